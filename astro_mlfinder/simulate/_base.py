# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The common shape of a simulated data set: data, noiseless model, truth
segmentation, truth table, WCS and header, written atomically.
"""

from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from astro_mlfinder.io.atomic import atomic_path, check_writable

__all__ = ['Simulation', 'sin_header', 'world_columns']


def sin_header(ny, nx, *, pixel_scale, center, wcsaxes=2):
    """
    FITS header with the celestial axes of a simulation: RA/Dec, SIN
    projection centred on the image, north up and east left.

    Parameters
    ----------
    ny, nx : int
        Image size along Dec and RA.
    pixel_scale : float
        Pixel size in arcsec.
    center : tuple of float
        RA and Dec (deg, ICRS) of the image centre.
    wcsaxes : int, optional
        ``WCSAXES``: 2 for an image, 3 when the caller adds a spectral axis.

    Returns
    -------
    header : `~astropy.io.fits.Header`
        ``WCSAXES`` and the keywords of axes 1 (RA) and 2 (Dec).
    """
    h = fits.Header()
    h['WCSAXES'] = wcsaxes
    h['CTYPE1'] = 'RA---SIN'
    h['CRPIX1'] = (nx + 1) / 2.0
    h['CRVAL1'] = float(center[0])
    h['CDELT1'] = -float(pixel_scale) / 3600.0
    h['CUNIT1'] = 'deg'
    h['CTYPE2'] = 'DEC--SIN'
    h['CRPIX2'] = (ny + 1) / 2.0
    h['CRVAL2'] = float(center[1])
    h['CDELT2'] = float(pixel_scale) / 3600.0
    h['CUNIT2'] = 'deg'
    return h


@dataclass(repr=False)
class Simulation:
    """
    A simulated image or cube with its exact truth.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 data (noise + sources) in the units of ``header['BUNIT']``.
    model : `~numpy.ndarray`
        float32 noiseless source model.
    labels : `~numpy.ndarray`
        int32 truth segmentation; 0 = background, ``1..N`` = ``truth['id']``.
    truth : `~astropy.table.QTable`
        One row per source.
    wcs : `~astropy.wcs.WCS`
        World coordinate system of ``data``.
    header : `~astropy.io.fits.Header`
        FITS header with the WCS, BUNIT, beam and provenance.
    params : dict
        Every parameter used.
    """

    data: np.ndarray
    model: np.ndarray
    labels: np.ndarray
    truth: QTable
    wcs: WCS
    header: fits.Header
    params: dict = field(default_factory=dict)

    @property
    def shape(self):
        """Shape of ``data``."""
        return self.data.shape

    @property
    def beam(self):
        """Beam as a dict with ``bmaj``, ``bmin``, ``bpa`` in degrees."""
        return {'bmaj': float(self.header['BMAJ']),
                'bmin': float(self.header['BMIN']),
                'bpa': float(self.header['BPA'])}

    def to_hdu(self):
        """
        The data as a FITS primary HDU.

        Returns
        -------
        hdu : `~astropy.io.fits.PrimaryHDU`
        """
        return fits.PrimaryHDU(data=self.data, header=self.header.copy())

    def to_hdulist(self, *, model=True, labels=True):
        """
        The data, plus the model and label arrays as extensions.

        Parameters
        ----------
        model : bool, optional
            Add the noiseless model as extension ``MODEL``.
        labels : bool, optional
            Add the truth segmentation as extension ``LABELS``.

        Returns
        -------
        hdul : `~astropy.io.fits.HDUList`
        """
        hdus = [self.to_hdu()]
        wcs_header = self.wcs.to_header()
        if model:
            hdr = wcs_header.copy()
            hdr['BUNIT'] = self.header.get('BUNIT', '')
            hdus.append(fits.ImageHDU(self.model, header=hdr, name='MODEL'))
        if labels:
            hdus.append(fits.ImageHDU(self.labels, header=wcs_header.copy(),
                                      name='LABELS'))
        return fits.HDUList(hdus)

    def write(self, path, overwrite=False, *, model=False, labels=False):
        """
        Write the data to a FITS file, atomically.

        Parameters
        ----------
        path : str or path-like
            Output file name.
        overwrite : bool, optional
            Replace an existing file.
        model, labels : bool, optional
            Also write the model / truth segmentation as extensions
            ``MODEL`` and ``LABELS``.

        Raises
        ------
        FileExistsError
            If ``path`` exists and ``overwrite`` is `False`.
        """
        hdul = self.to_hdulist(model=model, labels=labels)
        with atomic_path(path, overwrite=overwrite) as tmp:
            hdul.writeto(tmp)

    def write_truth(self, path, overwrite=False, format='ascii.ecsv'):
        """
        Write the truth table, atomically.

        Parameters
        ----------
        path : str or path-like
            Output file name.
        overwrite : bool, optional
            Replace an existing file.
        format : str, optional
            Astropy table format (ECSV by default; other formats are
            written without the ``sky_centroid`` column and the metadata).

        Raises
        ------
        FileExistsError
            If ``path`` exists and ``overwrite`` is `False`.
        """
        table = self.truth
        if format != 'ascii.ecsv' and 'sky_centroid' in table.colnames:
            table = table.copy()
            table.remove_column('sky_centroid')
            table.meta = {}
        with atomic_path(path, overwrite=overwrite) as tmp:
            table.write(tmp, format=format)

    def write_all(self, image_path, truth_path, overwrite=False, **kwargs):
        """
        Write the data and the truth table, refusing before writing either
        when one of them exists and ``overwrite`` is `False`.

        Parameters
        ----------
        image_path, truth_path : str or path-like
            Output file names (FITS, ECSV).
        overwrite : bool, optional
            Replace existing files.
        **kwargs
            Passed to `write` (``model``, ``labels``).

        Returns
        -------
        paths : list
            The two paths written.
        """
        check_writable([image_path, truth_path], overwrite=overwrite)
        self.write(image_path, overwrite=overwrite, **kwargs)
        self.write_truth(truth_path, overwrite=overwrite)
        return [image_path, truth_path]


def world_columns(table, wcs):
    """Add ``ra``, ``dec`` (deg), ``freq`` (Hz) and ``sky_centroid`` of a cube's truth table at its ``x, y, z``.

    Returns the frequencies as a plain float array (empty for an empty table).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if len(table):
        ra, dec, freq = (np.asarray(v, dtype=np.float64)
                         for v in wcs.pixel_to_world_values(table['x'], table['y'], table['z']))
    else:
        ra = dec = freq = np.zeros(0)
    table['ra'] = ra * u.deg
    table['dec'] = dec * u.deg
    table['freq'] = freq * u.Hz
    table['sky_centroid'] = SkyCoord(ra * u.deg, dec * u.deg, frame='icrs')
    return freq
