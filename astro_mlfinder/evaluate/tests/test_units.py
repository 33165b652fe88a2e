# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Units read from catalogue files compare as units (issue 8, item 7).

The package's own ``_cat.xml`` says ``unit="Jy/beam"``, which astropy's VOTable reader leaves
unrecognised, and ``_cat.txt`` spells units SoFiA's way (``Jy*Hz``, ``Jy/beam*Hz``, left to
right); a truth table in ECSV says ``Jy / beam``. Equal units must be equal.
"""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astro_mlfinder.cli import main
from astro_mlfinder.core.catalog import SourceCatalog
from astro_mlfinder.core.exceptions import AstroMLFinderWarning
from astro_mlfinder.core.inputs import load_image
from astro_mlfinder.evaluate import evaluate_files, read_catalog
from astro_mlfinder.io.products import write_products


@pytest.mark.parametrize(('text', 'unit'), [
    ('Jy/beam', u.Jy / u.beam),
    ('Jy / beam', u.Jy / u.beam),
    ('Jy beam-1', u.Jy / u.beam),
    ('Jy*Hz', u.Jy * u.Hz),
    ('Hz Jy', u.Jy * u.Hz),
    ('Jy*km/s', u.Jy * u.km / u.s),
    ('Jy/beam*Hz', u.Jy * u.Hz / u.beam),          # SoFiA: left to right
    ('Jy/beam*km/s', u.Jy * u.km / u.s / u.beam),
    ('Jy / (beam km s)', u.Jy / (u.beam * u.km * u.s)),  # astropy's own grammar
    (u.Unit('Jy/beam', parse_strict='silent'), u.Jy / u.beam),
    (u.UnrecognizedUnit('Jy/beam'), u.Jy / u.beam),
])
def test_parse_unit(text, unit):
    from astro_mlfinder.evaluate.matching import parse_unit

    assert parse_unit(text) == unit


@pytest.mark.parametrize('text', [None, '', '-'])
def test_parse_no_unit(text):
    from astro_mlfinder.evaluate.matching import parse_unit

    assert parse_unit(text) is None


def test_unknown_unit_stays_unrecognised():
    from astro_mlfinder.evaluate.matching import parse_unit

    assert isinstance(parse_unit('furlongs_per_fortnight'), u.UnrecognizedUnit)


@pytest.fixture(scope='module')
def products(tmp_path_factory):
    """The package's SoFiA-style catalogues of two sources, and an ECSV truth in Jy / beam."""
    nz, ny, nx = 20, 40, 40
    data = np.zeros((nz, ny, nx), np.float32)
    segment = np.zeros((nz, ny, nx), np.int32)
    segment[5:10, 5:10, 5:10] = 1
    segment[10:15, 25:30, 25:30] = 2
    data[segment == 1] = 0.01
    data[segment == 2] = 0.02
    header = fits.Header()
    for i, (ctype, crval, cdelt) in enumerate(
            [('RA---SIN', 150.0, -5 / 3600), ('DEC--SIN', 30.0, 5 / 3600), ('FREQ', 1.42e9, 1e5)], start=1):
        header[f'CTYPE{i}'], header[f'CRPIX{i}'] = ctype, 1.0
        header[f'CRVAL{i}'], header[f'CDELT{i}'] = crval, cdelt
    header['BUNIT'] = 'Jy/beam'
    header['BMAJ'] = header['BMIN'] = 15 / 3600
    cat = SourceCatalog(load_image(fits.PrimaryHDU(data, header)), segment)
    outdir = tmp_path_factory.mktemp('units')
    write_products(cat, outdir, 'own', mask=False, moments=False, regions=())
    truth = cat.to_table(columns=['id', 'x', 'y', 'z', 'f_sum'])
    assert truth['f_sum'].unit == u.Jy / u.beam
    np.testing.assert_allclose(truth['f_sum'].value, [1.25, 2.5], rtol=1e-6)
    truth['f_sum'] = truth['f_sum'] * [0.8, 1.25]  # detected / true = 1.25 and 0.8
    truth.write(outdir / 'truth.ecsv')
    return outdir


@pytest.mark.parametrize('name', ['own_cat.xml', 'own_cat.txt'])
def test_own_catalogues_against_truth(products, name):
    table = read_catalog(products / name)
    assert table['f_sum'].unit == u.Jy / u.beam
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstroMLFinderWarning)
        scores = evaluate_files(products / name, products / 'truth.ecsv')
    assert scores['tp'][0] == 2
    # ratios 1.25 and 0.8 (the text catalogue holds 6 decimals)
    assert scores['median_flux_error'][0] == pytest.approx((0.25 - 0.2) / 2, abs=1e-5)
    assert scores['median_abs_flux_error'][0] == pytest.approx(0.225, abs=1e-5)


def test_cli_evaluates_own_xml(products, capsys):
    assert main(['evaluate', str(products / 'own_cat.xml'), str(products / 'truth.ecsv')]) == 0
    out, err = capsys.readouterr()
    assert 'cannot be compared' not in err
    assert '0.025' in out and '0.225' in out


def test_sofia_spelling_in_text_catalogue(tmp_path):
    path = tmp_path / 'c_cat.txt'
    path.write_text(
        '# SoFiA source catalogue\n#\n'
        '#         1    2     3     4     5           6\n'
        '#      name   id     x     y     z       f_sum\n'
        '#         -    -   pix   pix   pix  Jy/beam*Hz\n'
        '  "A"    1   1.0   2.0   3.0   4.5\n')
    table = read_catalog(path)
    assert table['f_sum'].unit == u.Jy * u.Hz / u.beam
    assert QTable(table)['f_sum'][0] == 4.5 * u.Jy * u.Hz / u.beam
