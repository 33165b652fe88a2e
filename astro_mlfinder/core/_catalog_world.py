"""World-coordinate columns of `~astro_mlfinder.core.catalog.SourceCatalog`: positions, names, SkyCoord.

`WorldColumnsMixin` turns the pixel centroids and peaks into world coordinates
through the image's WCS (``ra``/``dec``, ``l``/``b`` or ``lon``/``lat``, and
the spectral coordinate named after the spectral axis as SoFiA-2 names it),
builds SoFiA-style source names from them and gives `sky_centroid` and
`spectral_coord`. It expects the catalogue's ``image``, ``ndim``, ``_params``,
``_extra``, ``_ids_all``, ``name_prefix`` and ``_select``.
"""

import functools

import numpy as np
from astropy import units as u

from .columns import spectral_column_name

__all__ = ["WorldColumnsMixin"]


class WorldColumnsMixin:
    """World-coordinate columns, source names, `sky_centroid` and `spectral_coord` of a catalogue."""

    @functools.cached_property
    def _world_all(self):
        """World coordinates of centroids and peaks: dict of name -> Quantity."""
        image = self.image
        if image.wcs is None or not image.has_celestial:
            return {}
        params = self._params
        wcs = image.wcs
        out = {}
        lon_name, lat_name = self._celestial_names
        for suffix, keys in (("", ("x", "y", "z")), ("_peak", ("x_peak", "y_peak", "z_peak"))):
            # a finder's own position columns (PAIS centres) take precedence, as in every other column
            pix = [np.asarray(u.Quantity(self._extra.get(k, params[k])).value, dtype=float) for k in keys[: self.ndim]]
            world = wcs.pixel_to_world_values(*pix)
            celestial_axes = [wcs.wcs.lng, wcs.wcs.lat]
            out[lon_name + suffix] = np.asarray(world[celestial_axes[0]]) * u.deg
            out[lat_name + suffix] = np.asarray(world[celestial_axes[1]]) * u.deg
            if image.has_spectral:
                out[self._spectral_name + suffix] = np.asarray(world[wcs.wcs.spec]) * image.spectral_unit
        return out

    @property
    def _celestial_names(self):
        ctype = self.image.wcs.wcs.ctype[self.image.wcs.wcs.lng].upper()
        if ctype.startswith("RA"):
            return "ra", "dec"
        if ctype.startswith("GLON"):
            return "l", "b"
        return "lon", "lat"

    @property
    def _spectral_name(self):
        return spectral_column_name(self.image)

    @functools.cached_property
    def _names_all(self):
        from .measure import source_names

        world = self._world_all
        if world:
            lon, lat = self._celestial_names
            equinox = float(self.image.wcs.wcs.equinox) if np.isfinite(self.image.wcs.wcs.equinox) else 2000.0
            return np.asarray(
                source_names(
                    world[lon].to_value(u.deg),
                    world[lat].to_value(u.deg),
                    prefix=self.name_prefix,
                    equinox=equinox,
                    galactic=lon == "l",
                )
            )
        return np.asarray(source_names(None, None, prefix=self.name_prefix, ids=self._ids_all))

    @property
    def sky_centroid(self):
        """`~astropy.coordinates.SkyCoord` of (x, y), or None without a celestial WCS."""
        world = self._world_all
        if not world:
            return None
        frame = self.image.wcs.celestial
        lon, lat = self._celestial_names
        from astropy.coordinates import SkyCoord  # imported on first use: it is slow to import
        from astropy.wcs.utils import wcs_to_celestial_frame

        coords = SkyCoord(world[lon], world[lat], frame=wcs_to_celestial_frame(frame))
        return self._select(coords)

    @property
    def spectral_coord(self):
        """Spectral coordinate of z as a Quantity (frequency or velocity), or None."""
        name = self._spectral_name
        if name is None or not self._world_all:
            return None
        return self._select(self._world_all[name])
