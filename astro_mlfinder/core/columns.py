"""The catalogue's column names: defaults for cubes and images, SoFiA-2's order and units by kind.

`~astro_mlfinder.SourceCatalog` and the writers share these tables, so that a
column has one name, one unit rule and one place in SoFiA's order.
"""

from .measure2d import IMAGE_COLUMNS

__all__ = ["DEFAULT_COLUMNS_3D", "DEFAULT_COLUMNS_2D", "DECONVOLVED_COLUMNS", "SOFIA_COLUMNS",
           "SOFIA_SPECTRAL_NAMES", "spectral_column_name"]

DEFAULT_COLUMNS_3D = (
    "id", "x", "y", "z", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "n_pix",
    "f_min", "f_max", "f_sum", "rms", "snr", "w20", "w50", "ell_maj", "ell_min", "ell_pa",
    "kin_pa", "rel", "flag",
)  # fmt: skip
DEFAULT_COLUMNS_2D = (
    "id", "x", "y", "x_min", "x_max", "y_min", "y_max", "n_pix", "f_min", "f_max", "f_sum",
    "rms", "snr", "ell_maj", "ell_min", "ell_pa", "rel", "flag", "peak_flux", "err_peak_flux",
    "int_flux", "err_int_flux",
)  # fmt: skip
#: Default columns of 2D images with a beam and a celestial WCS, after `DEFAULT_COLUMNS_2D`.
DECONVOLVED_COLUMNS = ("deconv_maj", "deconv_min", "deconv_pa")
#: SoFiA-2 catalogue columns in SoFiA order; ``ra``/``dec``/``freq`` are
#: renamed after the WCS axis types (``l``/``b``, ``v_rad``, ...).
SOFIA_COLUMNS = (
    "name", "id", "x", "y", "z", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "n_pix",
    "f_min", "f_max", "f_sum", "rel", "flag", "fill", "mean", "std", "skew", "kurt", "rms",
    "w20", "w50", "wm50", "ell_maj", "ell_min", "ell_pa", "ell3s_maj", "ell3s_min", "ell3s_pa",
    "kin_pa", "err_x", "err_y", "err_z", "err_f_sum", "ra", "dec", "freq", "x_peak", "y_peak",
    "z_peak", "ra_peak", "dec_peak", "freq_peak",
)  # fmt: skip

_PIX = {
    "x", "y", "z", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "x_peak", "y_peak",
    "z_peak", "ell_maj", "ell_min", "ell3s_maj", "ell3s_min", "err_x", "err_y", "err_z",
}  # fmt: skip
_INT = {"id", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "n_pix", "x_peak", "y_peak",
        "z_peak", "flag"}  # fmt: skip
_DEG = {"ell_pa", "ell3s_pa", "kin_pa"}
_FLUX = {"f_min", "f_max", "rms"}
_FLUX_SUM = {"f_sum", "err_f_sum"}
_WIDTH = {"w20", "w50", "wm50"}
_PARAM_NAMES = (
    "x", "y", "z", "x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "n_pix", "f_min",
    "f_max", "f_sum", "rms", "w20", "w50", "wm50", "ell_maj", "ell_min", "ell_pa", "ell3s_maj",
    "ell3s_min", "ell3s_pa", "kin_pa", "err_x", "err_y", "err_z", "err_f_sum", "x_peak",
    "y_peak", "z_peak",
)  # fmt: skip
_LINKER_NAMES = ("fill", "mean", "std", "skew", "kurt")
#: Continuum columns of 2D images (`astro_mlfinder.core.measure2d`).
_IMAGE_ONLY = set(IMAGE_COLUMNS)
_CUBE_ONLY = {"z", "z_min", "z_max", "w20", "w50", "wm50", "kin_pa", "err_z", "z_peak", "freq", "freq_peak"}
#: SoFiA-2's catalogue names of the spectral world columns, by the first four letters of CTYPE.
SOFIA_SPECTRAL_NAMES = {"FREQ": "freq", "VRAD": "v_rad", "VOPT": "v_opt", "FELO": "v_opt", "VELO": "v_app"}
# SoFiA's names, plus redshift and wavelength axes (SoFiA calls those ``spec``)
_SPECTRAL_NAMES = {**SOFIA_SPECTRAL_NAMES, "ZOPT": "z_opt", "WAVE": "wave"}


def spectral_column_name(image):
    """Name of the spectral world column of ``image``'s sources, as SoFiA-2 2.5.1 names it.

    SoFiA-2 reads the header's CTYPE3 as written in the file: ``FREQ`` gives
    ``freq``, ``VRAD`` ``v_rad``, ``VOPT`` and ``FELO`` ``v_opt``, and an
    AIPS-style ``VELO`` axis ``v_app`` (SoFiA-2's DataCube.c). wcslib
    translates ``VELO-HEL`` into ``VOPT`` or ``VRAD`` (after ``VELREF``), so the
    name comes from the header's keyword, and from the WCS only when the
    header does not hold the spectral axis' CTYPE. Redshift and wavelength
    axes give ``z_opt`` and ``wave``, other types ``spec``; None without a
    spectral axis.
    """
    if not image.has_spectral:
        return None
    wcs_ctype = image.wcs.wcs.ctype[image.wcs.wcs.spec].upper()
    ctype = wcs_ctype
    header = image.header
    if header is not None:
        written = str(header.get(f"CTYPE{image.wcs.wcs.spec + 1}", "")).strip().upper()
        if written[:4] in _SPECTRAL_NAMES:
            ctype = written
    return _SPECTRAL_NAMES.get(ctype[:4], "spec")
