"""Galaxies of `~astro_mlfinder.simulate.simulate_hi_cube`: their amplitude for a target S/N, line widths, placement."""

import numpy as np

from astro_mlfinder.simulate._galaxy import DiskParameters, disk_extent, disk_model

__all__ = ["HI_REST_FREQUENCY"]

#: Rest frequency of the HI 21-cm line in Hz.
HI_REST_FREQUENCY = 1.420405752e9
_C_KMS = 299792.458


def _solve_amplitude(m, rms_vox, target, threshold, omega):
    """
    Amplitude ``A`` giving integrated SNR ``target`` inside the mask
    ``A * m > threshold * rms``.

    The mask grows with ``A``; sorting the voxels by ``m / rms`` turns the
    problem into one over mask prefixes, each with a closed-form ``A``.

    Returns
    -------
    amplitude : float
    snr : float
        The SNR actually reached (equal to ``target`` unless it falls in a
        jump of the piecewise SNR curve).
    """
    u_vox = m / rms_vox
    if u_vox.size == 0 or not u_vox.max() > 0:
        return 0.0, 0.0
    # Voxels a million times fainter than the peak (in units of the noise)
    # can only join the mask of a source with a peak SNR above ~1e6 times
    # the threshold: leave them out of the sort.
    candidates = np.flatnonzero(u_vox > u_vox.max() * 1e-6)
    order = candidates[np.argsort(-u_vox[candidates], kind='stable')]
    u_s = u_vox[order]
    s_k = np.cumsum(m[order])
    v_k = np.cumsum(rms_vox[order]**2)
    c_k = s_k / np.sqrt(omega * v_k)          # SNR per unit amplitude
    a_k = target / c_k
    lower = threshold / u_s                    # A must exceed this
    upper = np.append(threshold / u_s[1:], np.inf)  # and not exceed this
    valid = (a_k > lower) & (a_k <= upper)
    if np.any(valid):
        k = int(np.argmax(valid))
        amplitude = a_k[k]
    else:
        clamped = np.clip(a_k, lower * (1 + 1e-9), upper)
        err = np.abs(clamped * c_k - target)
        k = int(np.argmin(err))
        amplitude = clamped[k]
    mask = amplitude * m > threshold * rms_vox
    snr = (amplitude * m[mask].sum()
           / np.sqrt(omega * (rms_vox[mask]**2).sum())) if mask.any() else 0.0
    return float(amplitude), float(snr)


def _width(spectrum, fraction):
    """Width at ``fraction`` of the peak, from the edges inwards, with
    linear interpolation (SoFiA-2 style), in channels."""
    if spectrum.size == 0:
        return 0.0
    level = fraction * spectrum.max()
    above = np.flatnonzero(spectrum >= level)
    i, j = above[0], above[-1]
    left = float(i)
    if i > 0 and spectrum[i] != spectrum[i - 1]:
        left = i - 1 + (level - spectrum[i - 1]) / (spectrum[i] - spectrum[i - 1])
    right = float(j)
    if j < spectrum.size - 1 and spectrum[j] != spectrum[j + 1]:
        right = j + (spectrum[j] - level) / (spectrum[j] - spectrum[j + 1])
    return right - left


def _intervals_overlap(a, b):
    return all(a[k][0] < b[k][1] and b[k][0] < a[k][1] for k in range(3))


class _Placer:
    """Random, non-overlapping placement of disk parameters in the cube."""

    def __init__(self, shape, rng, *, beam_fwhm, channel_width, freq0,
                 size_range, incl_range, vrot_range, sigma_v_range, profile,
                 allow_overlap):
        self.shape = shape
        self.rng = rng
        self.beam_fwhm = beam_fwhm
        self.channel_width = channel_width
        self.freq0 = freq0
        self.size_range = size_range
        self.incl_range = incl_range
        self.vrot_range = vrot_range
        self.sigma_v_range = sigma_v_range
        self.profile = profile
        self.allow_overlap = allow_overlap
        self.boxes = []
        self.placed = []

    def dv_chan(self, z):
        freq = self.freq0 + z * self.channel_width
        return _C_KMS * abs(self.channel_width) * HI_REST_FREQUENCY / freq**2

    def draw(self):
        rng = self.rng
        lo, hi = self.size_range
        r_hi = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        cos_lo = np.cos(np.radians(self.incl_range[1]))
        cos_hi = np.cos(np.radians(self.incl_range[0]))
        incl = float(np.degrees(np.arccos(rng.uniform(cos_lo, cos_hi))))
        profile = self.profile
        if profile == 'random':
            profile = 'exponential' if rng.random() < 0.5 else 'flat'
        return DiskParameters(
            x0=0.0, y0=0.0, z0=0.0, r_hi=r_hi, incl=incl,
            pa=float(rng.uniform(0.0, 360.0)),
            v_rot=float(rng.uniform(*self.vrot_range)),
            r_turn=float(rng.uniform(0.1, 0.3)) * r_hi,
            sigma_v=float(rng.uniform(*self.sigma_v_range)),
            profile=profile,
            scale_length=r_hi / float(rng.uniform(1.5, 3.0)),
            hole=float(rng.uniform(0.0, 0.7)),
            dv_chan=self.dv_chan(0.5 * (self.shape[0] - 1)))

    def core(self, p):
        """Half extents that must lie inside the cube for a whole source."""
        hz = (p.v_rot * np.sin(np.radians(p.incl)) + 3 * p.sigma_v) / p.dv_chan
        hxy = p.r_hi + self.beam_fwhm + 1.0
        return hz + 1.0, hxy, hxy

    def box(self, p):
        hz, hy, hx = disk_extent(p, self.beam_fwhm)
        return ((p.z0 - hz, p.z0 + hz), (p.y0 - hy, p.y0 + hy),
                (p.x0 - hx, p.x0 + hx))

    def inside_fraction(self, p):
        """Fraction of the model flux of ``p`` that falls inside the cube."""
        origin, model = disk_model(p, self.beam_fwhm, supersample=2)
        inner = tuple(slice(max(-o, 0), max(min(n - o, m), 0))
                      for o, n, m in zip(origin, self.shape, model.shape, strict=True))
        return float(model[inner].sum())

    def fits(self, p):
        core = self.core(p)
        return all(2 * c < n - 1 for c, n in zip(core, self.shape, strict=True))

    def try_place(self, p, kind, n_tries=200):
        """Set the centre of ``p``; return True on success."""
        rng = self.rng
        shape = self.shape
        for _ in range(n_tries):
            core = self.core(p)
            centre = []
            for c, n in zip(core, shape, strict=True):
                lo, hi = c, n - 1 - c
                centre.append(rng.uniform(lo, hi) if hi > lo
                              else 0.5 * (n - 1))
            if kind == 'edge':
                axis = int(rng.integers(0, 3))
                c = core[axis]
                offset = rng.uniform(-0.5 * c, 0.3 * c)
                centre[axis] = (offset if rng.random() < 0.5
                                else shape[axis] - 1 - offset)
            elif kind == 'sightline' and self.placed:
                other = self.placed[int(rng.integers(0, len(self.placed)))]
                jitter = rng.normal(0.0, 0.3 * self.beam_fwhm, size=2)
                centre[1] = float(np.clip(other.y0 + jitter[0], 0, shape[1] - 1))
                centre[2] = float(np.clip(other.x0 + jitter[1], 0, shape[2] - 1))
            p.z0, p.y0, p.x0 = (float(v) for v in centre)
            p.dv_chan = self.dv_chan(p.z0)
            box = self.box(p)
            if self.allow_overlap or not any(
                    _intervals_overlap(box, b) for b in self.boxes):
                if kind == 'edge' and not 0.1 < self.inside_fraction(p) < 0.95:
                    continue
                self.boxes.append(box)
                self.placed.append(p)
                return True
        return False
