"""Pictures and the printed table of a real search, checked against the simulated truth (issue 13)."""

import numpy as np
import pytest
from astropy import units as u

from astro_mlfinder import ClassicalFinder

C_KMS = 299792.458
HI_HZ = 1.420405752e9


@pytest.fixture(scope="module")
def catalog(small_sim):
    return ClassicalFinder(threshold=5.0)(small_sim.to_hdu(), progress=False)


@pytest.fixture(scope="module")
def matched(catalog, small_sim):
    """(physical table row, truth row) of every detection matched to a simulated galaxy."""
    from astro_mlfinder.evaluate import match_catalogs
    from astro_mlfinder.visualization import physical_table

    table = physical_table(catalog, velocity="optical")
    truth = small_sim.truth
    match = match_catalogs(catalog, truth)
    assert match.tp == len(truth) == 6
    rows = {int(i): k for k, i in enumerate(table["id"])}
    truth_rows = {int(i): k for k, i in enumerate(truth["id"])}
    return [(table[rows[int(d)]], truth[truth_rows[int(t)]])
            for d, t in zip(match.matches["det_id"], match.matches["truth_id"], strict=True)]


def test_printed_velocities_widths_and_fluxes_match_the_truth(matched, catalog):
    beam_area = catalog.image.beam_area
    ratios = []
    for row, true in matched:
        # the simulation's v_sys is optical, from the same 1420.405752 MHz rest frequency
        assert abs(row["v_opt"] - true["v_sys"]) < 10 * u.km / u.s  # under one 50 kHz channel (10.8 km/s)
        assert row["w50"].to_value(u.km / u.s) == pytest.approx(true["w50_kms"].to_value(u.km / u.s), rel=0.1)
        freq = HI_HZ / (1 + true["v_sys"].to_value(u.km / u.s) / C_KMS)
        dv = C_KMS * 5.0e4 * HI_HZ / freq**2  # optical velocity width of a channel at the source
        expected = true["f_total"].to_value(u.Jy / u.beam) / beam_area * dv
        ratios.append(row["f_int"].to_value(u.Jy * u.km / u.s) / expected)
    # measured on the noisy detected mask: each within 15 % of the model's flux, typically within 5 %
    # (the exact conversion of f_sum is checked in visualization/tests/test_table.py)
    assert np.all(np.abs(np.array(ratios) - 1) < 0.15), ratios
    assert abs(np.median(ratios) - 1) < 0.05, ratios


def test_moment_map_and_spectra_of_the_search(catalog):
    plt = pytest.importorskip("matplotlib.pyplot")
    import astro_mlfinder.visualization  # noqa: F401  (registers cat.plot)

    ax = catalog.plot()
    try:
        assert len(ax.patches) == len(catalog)
        assert ax.get_title() == f"{len(catalog)} source(s)"
        assert ax.images[0].colorbar.ax.get_ylabel() == "moment 0 [Jy/beam km/s]"
        assert ax.coords[0].get_axislabel() == "Right Ascension (ICRS)"
    finally:
        plt.close(ax.figure)
    source_id = int(catalog.id[0])
    ax = catalog.plot("spectra", source_id=source_id)
    try:
        assert ax.get_xlabel() == "radio velocity [km/s]" and ax.get_ylabel() == "flux density [Jy]"
        line = ax.get_lines()[0]
        assert len(line.get_xdata()) == catalog.image.shape[0]
        # the spectrum's integral over the window is the catalogue's integrated flux
        from astro_mlfinder.visualization import physical_table

        flux = np.asarray(line.get_ydata())
        z0, z1 = int(catalog.z_min[0].value), int(catalog.z_max[0].value)
        dv = abs(np.diff(line.get_xdata())).mean()
        f_int = physical_table(catalog)["f_int"][0].to_value(u.Jy * u.km / u.s)
        assert flux[z0 : z1 + 1].sum() * dv == pytest.approx(f_int, rel=0.15)  # footprint >= mask
    finally:
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="no source with id 999"):
        catalog.plot("spectra", source_id=999)
