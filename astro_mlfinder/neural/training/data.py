"""Training data of the segmentation models: simulated crops, FITS cube + mask pairs, batches.

* `SimulatedHIData` -- an endless, seeded stream of simulated HI crops
  (`astro_mlfinder.simulate.hi`) with random instrument and artefacts,
  balanced positive/negative crops, HISF cut-mix, white noise, flips and
  transposes;
* `FitsPairData` -- crops from a directory of ``NAME.fits`` +
  ``NAME_mask.fits`` pairs;
* `make_data` -- the source named by ``train(data=...)``;
* `prepare_batch` -- spectral rebin, normalisation and padding of native
  crops into network inputs and targets (as at inference).
"""

from pathlib import Path

import numpy as np

from ...core.stats import MAD_TO_STD
from ...core.tiling import as_tuple
from .._torch import require_torch
from ..inference import normalize_cube

__all__ = ["SimulatedHIData", "FitsPairData", "make_data", "prepare_batch", "TRAIN_ENTROPY"]

#: Entropy mixed into every training seed: training streams never equal validation or benchmark seeds.
TRAIN_ENTROPY = 0x7EA1


def _flip_and_transpose(data, labels, rng):
    for axis in range(3):
        if rng.random() < 0.5:
            data = np.flip(data, axis)
            labels = np.flip(labels, axis)
    if data.shape[1] == data.shape[2] and rng.random() < 0.5:
        data = np.swapaxes(data, 1, 2)
        labels = np.swapaxes(labels, 1, 2)
    return np.ascontiguousarray(data), np.ascontiguousarray(labels)


class SimulatedHIData:
    """Endless stream of simulated HI training crops.

    Parameters
    ----------
    crop_shape : tuple of int
        Native (z, y, x) size of each crop.
    seed : int
        Seed of the stream (training seeds are spawned from
        ``SeedSequence([seed, 0x7EA1])`` and never equal the integer seeds
        used for validation and benchmarks).
    snr_range : tuple of float
        Integrated-SNR range, drawn log-uniformly.
    max_sources : int
        Largest number of galaxies in a positive crop.
    positive_fraction : float
        Fraction of crops with at least one galaxy.
    realism_prob : float
        Probability of random instrument/artefact realism for a crop.
    cutmix_prob : float
        Probability of inserting the sources of a second simulation.
    noise_prob : float
        Probability of adding white noise of 0-50 % of the rms.
    telescope_prob : float
        Probability that a crop is simulated by
        `~astro_mlfinder.simulate.simulate_telescope_cube` (galaxies of many
        morphologies, an instrument drawn from one of ``telescopes``) instead of
        `~astro_mlfinder.simulate.simulate_hi_cube`.
    telescopes : tuple of str
        Instrument presets (`~astro_mlfinder.simulate.telescopes.TELESCOPES`)
        of the telescope crops.
    mask_threshold : float
        Training target: the noiseless model above this many times the local
        noise rms (0.5 as the simulators' default truth; lower values make the
        targets reach the faint outskirts).
    """

    def __init__(
        self,
        crop_shape=(128, 64, 64),
        seed=0,
        *,
        snr_range=(2.0, 60.0),
        max_sources=3,
        positive_fraction=0.75,
        realism_prob=0.7,
        cutmix_prob=0.4,
        noise_prob=0.3,
        telescope_prob=0.0,
        telescopes=("WSRT", "ATCA", "ASKAP"),
        mask_threshold=0.5,
    ):
        from ...simulate.hi import random_realism, simulate_hi_cube
        from ...simulate.hi_telescope import simulate_telescope_cube
        from ...simulate.telescopes import TELESCOPES

        unknown = sorted(set(telescopes) - set(TELESCOPES))
        if unknown:
            raise ValueError(f"unknown telescope(s) {unknown} in telescopes; choose from {sorted(TELESCOPES)}")
        self._simulate = simulate_hi_cube
        self._simulate_telescope = simulate_telescope_cube
        self.telescope_prob = float(telescope_prob)
        self.telescopes = tuple(str(t) for t in telescopes)
        self.mask_threshold = float(mask_threshold)
        self._random_realism = random_realism
        self.crop_shape = as_tuple(crop_shape, 3, "crop_shape", minimum=1)
        self.snr_range = tuple(float(v) for v in snr_range)
        self.max_sources = int(max_sources)
        self.positive_fraction = float(positive_fraction)
        self.realism_prob = float(realism_prob)
        self.cutmix_prob = float(cutmix_prob)
        self.noise_prob = float(noise_prob)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), TRAIN_ENTROPY]))

    def describe(self):
        """Plain description recorded with the weights."""
        return {
            "source": "sim:hi",
            "crop_shape": list(self.crop_shape),
            "snr_range": list(self.snr_range),
            "max_sources": self.max_sources,
            "positive_fraction": self.positive_fraction,
            "realism_prob": self.realism_prob,
            "cutmix_prob": self.cutmix_prob,
            "noise_prob": self.noise_prob,
            "telescope_prob": self.telescope_prob,
            "telescopes": list(self.telescopes),
            "mask_threshold": self.mask_threshold,
        }

    def _sim(self, n_sources, rng):
        if self.telescope_prob > 0 and rng.random() < self.telescope_prob:
            telescope = self.telescopes[int(rng.integers(len(self.telescopes)))]
            seed = int(rng.integers(2**63))
            return self._simulate_telescope(
                self.crop_shape,
                n_sources,
                telescope=telescope,
                seed=np.random.SeedSequence([seed, TRAIN_ENTROPY]),
                snr_range=self.snr_range,
                mask_threshold=self.mask_threshold,
                n_particles=40000,
            )
        realism = self._random_realism(rng, n_sources=n_sources) if rng.random() < self.realism_prob else None
        seed = int(rng.integers(2**63))
        return self._simulate(
            self.crop_shape,
            n_sources,
            seed=np.random.SeedSequence([seed, TRAIN_ENTROPY]),
            snr_range=self.snr_range,
            realism=realism,
            mask_threshold=self.mask_threshold,
        )

    def sample(self):
        """Return one ``(data, labels)`` crop (float32 cube, bool mask), native resolution."""
        import warnings

        from ...simulate.augment import cutmix

        rng = self.rng
        positive = rng.random() < self.positive_fraction
        n = int(rng.integers(1, self.max_sources + 1)) if positive else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = self._sim(n, rng)
            data, labels = sim.data, sim.labels
            if positive and rng.random() < self.cutmix_prob:
                donor = self._sim(int(rng.integers(1, self.max_sources + 1)), rng)
                if donor.labels.any():
                    rms = float(np.median(sim.noise_rms))
                    # scale the donor so its SNR matches the background's noise level, then dim it
                    factor = rms / float(np.median(donor.noise_rms))
                    data, labels = cutmix(
                        data,
                        donor.model * factor,
                        donor.labels,
                        scale=(0.25, 1.0),
                        background_labels=labels,
                        label_threshold=self.mask_threshold * rms,
                        rng=rng,
                    )
        data = np.asarray(data, dtype=np.float32)
        if rng.random() < self.noise_prob:
            rms = float(np.median(sim.noise_rms))
            data = data + rng.normal(0.0, rng.uniform(0.0, 0.5) * rms, data.shape).astype(np.float32)
        return _flip_and_transpose(data, labels > 0, rng)


def _read_fits_array(path):
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None)
        return np.squeeze(np.asarray(hdu.data))


class FitsPairData:
    """Training crops from a directory of FITS cube + mask pairs.

    Every ``NAME_mask.fits`` (or ``.fits.gz``; non-zero = source) is paired
    with ``NAME.fits`` (or ``.fits.gz``) in the same directory. Crops are
    drawn around a random labelled voxel (``positive_fraction``) or
    anywhere; white noise and flips are added as for simulated data.
    """

    def __init__(self, directory, crop_shape=(128, 64, 64), seed=0, *, positive_fraction=0.75, noise_prob=0.3):
        directory = Path(directory)
        if not directory.is_dir():
            raise ValueError(f"training data directory not found: {directory}")
        self.pairs = []
        for mask_path in sorted(directory.glob("*_mask.fits*")):
            stem = mask_path.name.split("_mask.fits")[0]
            cube_path = next(
                (p for p in (directory / f"{stem}.fits", directory / f"{stem}.fits.gz") if p.exists()),
                None,
            )
            if cube_path is None:
                raise ValueError(f"mask {mask_path.name} has no matching cube {stem}.fits in {directory}")
            cube = _read_fits_array(cube_path).astype(np.float32)
            mask = _read_fits_array(mask_path) > 0
            if cube.ndim != 3 or cube.shape != mask.shape:
                raise ValueError(
                    f"{cube_path.name} {cube.shape} and {mask_path.name} {mask.shape} must be "
                    "3D cubes of the same shape"
                )
            self.pairs.append((cube, mask, np.argwhere(mask)))
        if not self.pairs:
            raise ValueError(f"no FITS cube + mask pairs (NAME.fits + NAME_mask.fits) in {directory}")
        self.directory = directory
        self.crop_shape = as_tuple(crop_shape, 3, "crop_shape", minimum=1)
        self.positive_fraction = float(positive_fraction)
        self.noise_prob = float(noise_prob)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), TRAIN_ENTROPY]))

    def describe(self):
        return {
            "source": str(self.directory),
            "n_cubes": len(self.pairs),
            "crop_shape": list(self.crop_shape),
            "positive_fraction": self.positive_fraction,
            "noise_prob": self.noise_prob,
        }

    def sample(self):
        rng = self.rng
        cube, mask, where = self.pairs[int(rng.integers(len(self.pairs)))]
        crop = [min(c, n) for c, n in zip(self.crop_shape, cube.shape, strict=True)]
        if len(where) and rng.random() < self.positive_fraction:
            centre = where[int(rng.integers(len(where)))]
            lo = [
                int(np.clip(c - rng.integers(0, w), 0, n - w)) for c, w, n in zip(centre, crop, cube.shape, strict=True)
            ]
        else:
            lo = [int(rng.integers(0, n - w + 1)) for w, n in zip(crop, cube.shape, strict=True)]
        sl = tuple(slice(a, a + w) for a, w in zip(lo, crop, strict=True))
        data, labels = cube[sl].copy(), mask[sl].copy()
        data[~np.isfinite(data)] = 0.0
        if rng.random() < self.noise_prob:
            rms = MAD_TO_STD * float(np.median(np.abs(data - np.median(data))))
            data += rng.normal(0.0, rng.uniform(0.0, 0.5) * rms, data.shape).astype(np.float32)
        return _flip_and_transpose(data, labels, rng)


def make_data(data, crop_shape, seed, **kwargs):
    """The training source named by ``data``.

    ``'sim:hi'`` gives a `SimulatedHIData` stream (``kwargs`` go to it), an
    object with a ``sample()`` method is used as it is, anything else is a
    directory of FITS pairs (`FitsPairData`).
    """
    if isinstance(data, str) and data.lower().startswith("sim:"):
        kind = data.split(":", 1)[1].lower()
        if kind != "hi":
            raise ValueError(f"unknown simulated training data {data!r}; supported: 'sim:hi'")
        return SimulatedHIData(crop_shape, seed, **kwargs)
    if hasattr(data, "sample"):
        return data
    return FitsPairData(data, crop_shape, seed)


def prepare_batch(samples, rebin, normalization, divisor):
    """Rebin, normalise and pad native crops; return network inputs and targets (numpy).

    Parameters
    ----------
    samples : list of (data, labels)
        Native (z, y, x) crops and their boolean masks.
    rebin : tuple of int or None
        Spectral rebin (kernel, stride); labels are rebinned and re-binarised at 0.5.
    normalization : dict or None
        Input normalisation (`~astro_mlfinder.neural.inference.normalize_cube`).
    divisor : int
        Every size is mirror-padded to a multiple of this.

    Returns
    -------
    x, y : `~numpy.ndarray`
        float32 arrays of shape (n, 1, z, y, x).
    """
    torch = require_torch("training")
    from ..models.unet3d.network import spectral_rebin

    xs, ys = [], []
    for data, labels in samples:
        if rebin:
            with torch.no_grad():
                d = spectral_rebin(torch.from_numpy(data)[None, None], *rebin)[0, 0].numpy()
                lab = (
                    spectral_rebin(
                        torch.from_numpy(labels.astype(np.float32))[None, None],
                        *rebin,
                        nan_aware=False,
                    )[0, 0].numpy()
                    > 0.5
                )
        else:
            d, lab = data, labels
        x = normalize_cube(d, normalization)
        pad = [(0, (-n) % divisor) for n in x.shape]
        if any(p for _, p in pad):
            x = np.pad(x, pad, mode="symmetric")
            lab = np.pad(lab, pad, mode="symmetric")
        xs.append(x)
        ys.append(lab.astype(np.float32))
    return np.stack(xs)[:, None], np.stack(ys)[:, None]
