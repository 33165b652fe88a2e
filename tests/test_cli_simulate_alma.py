"""``astro-mlfinder simulate alma``: the four products, whole or not at all."""

import numpy as np
from astropy.io import fits
from astropy.table import QTable

from astro_mlfinder.cli import main
from astro_mlfinder.simulate import simulate_alma_cube


def test_simulate_alma_writes_products(tmp_path, capsys):
    args = ["simulate", "alma", "--seed", "7", "--output", str(tmp_path), "--shape", "16,64,64",
            "--n-sources", "3"]
    assert main(args) == 0
    names = ["sim_alma_7.fits", "sim_alma_7_truth.ecsv", "sim_alma_7_model.fits", "sim_alma_7_beam.fits"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    sim = simulate_alma_cube(shape=(16, 64, 64), seed=7, n_faint=2)
    assert np.array_equal(fits.getdata(tmp_path / names[0]), sim.data)
    assert np.array_equal(fits.getdata(tmp_path / names[2]), sim.model)
    assert np.array_equal(fits.getdata(tmp_path / names[3]), sim.dirty_beam)
    truth = QTable.read(tmp_path / names[1])
    assert len(truth) == len(sim.truth) and int(truth["bright"].sum()) == 1
    capsys.readouterr()
    # an existing product: nothing is written, one-line error
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / names[3]).write_text("keep")
    args[5] = str(tmp_path / "again")
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("astro-mlfinder: error:") and "\n" not in err
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [names[3]]
    assert (tmp_path / "again" / names[3]).read_text() == "keep"


def test_simulate_alma_bad_options(tmp_path, capsys):
    assert main(["simulate", "alma", "--output", str(tmp_path), "--realistic"]) == 1
    assert "do not apply to 'simulate alma'" in capsys.readouterr().err
    assert main(["simulate", "alma", "--output", str(tmp_path), "--n-sources", "0"]) == 1
    assert "must be >= 1" in capsys.readouterr().err
