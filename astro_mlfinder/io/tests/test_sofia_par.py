"""SoFiA-2 parameter files: syntax, defaults, validation, mapping to finder keywords."""

import importlib.util
import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from astro_mlfinder.io.sofia_par import (
    FINDER_MAPPING,
    NEWER_SOFIA_KEYS,
    PARAMETER_KEYS,
    PARAMETERS,
    SofiaParameters,
    SofiaParameterWarning,
    UnknownSofiaParameterError,
    check_par,
    finder_kwargs_to_par,
    output_options_to_par,
    par_call_arguments,
    par_output_options,
    par_to_finder_kwargs,
    read_par,
    write_par,
)

FIXTURES = Path(
    os.environ.get(
        "ASTRO_MLFINDER_SOFIA_FIXTURES",
        Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "sofia2-2.5.1-small",
    )
)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "sofia_parameters.rst"
DOCS_TOOL = DOCS.parent / "_ext" / "sofia_parameters.py"

#: ClassicalFinder keyword defaults as fixed in the package contract.
CONTRACT_DEFAULTS = {
    "invert": False, "gain": None, "noise": None, "weights": None, "region": None,
    "flag_regions": None, "flag_catalog": None, "flag_radius": 5, "flag_auto": False,
    "flag_threshold": 5.0, "flag_log": False,
    "contsub": False, "contsub_order": 0, "contsub_threshold": 2.0, "contsub_shift": 4,
    "contsub_padding": 3,
    "scale_noise": None, "scale_noise_statistic": "mad", "scale_noise_flux_range": "negative",
    "scale_noise_window_xy": 25, "scale_noise_window_z": 15, "scale_noise_grid_xy": 0,
    "scale_noise_grid_z": 0, "scale_noise_interpolate": False, "scale_noise_scfind": False,
    "ripple_filter": False, "ripple_statistic": "median", "ripple_window_xy": 31,
    "ripple_window_z": 15, "ripple_grid_xy": 0, "ripple_grid_z": 0, "ripple_interpolate": False,
    "scfind": True, "kernels_xy": (0, 3, 6), "kernels_z": (0, 3, 7, 15), "threshold": 5.0,
    "replacement": 2.0, "statistic": "mad", "flux_range": "negative",
    "threshold_finder": False, "threshold_finder_threshold": 5.0,
    "threshold_finder_mode": "relative",
    "threshold_finder_statistic": "mad", "threshold_finder_flux_range": "negative",
    "link": True, "radius_xy": 1, "radius_z": 1, "min_size_xy": 5, "min_size_z": 5,
    "max_size_xy": 0,
    "max_size_z": 0, "min_pixels": 0, "max_pixels": 0, "min_fill": 0.0, "max_fill": 0.0,
    "positivity": False, "keep_negative": False,
    "reliability": False, "reliability_parameters": ("peak", "sum", "mean"),
    "reliability_threshold": 0.9, "reliability_scale_kernel": 0.4, "reliability_min_snr": 3.0,
    "reliability_min_pixels": 0, "reliability_auto_kernel": False, "reliability_iterations": 30,
    "reliability_tolerance": 0.05, "reliability_catalog": None,
    "dilation": False, "dilation_iterations_xy": 10, "dilation_iterations_z": 5,
    "dilation_threshold": 0.001,
    "physical": False, "offset": False, "name_prefix": "SoFiA", "wcs_columns": True,
}  # fmt: skip


def fixtures():
    if not (FIXTURES / "small.par").exists():
        pytest.skip("SoFiA-2 fixtures not available")
    return FIXTURES


def write(tmp_path, text, name="test.par"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the parameter table
def test_all_101_parameters_in_sofia_order():
    assert len(PARAMETERS) == 101
    assert len(set(PARAMETER_KEYS)) == 101
    assert PARAMETER_KEYS[0] == "pipeline.verbose" and PARAMETER_KEYS[-1] == "output.overwrite"
    assert [e.sofia_key for e in FINDER_MAPPING] == list(PARAMETER_KEYS)


def test_defaults_as_sofia_writes_them():
    strings = SofiaParameters().to_strings()
    assert strings["scfind.kernelsXY"] == "0, 3, 6"
    assert strings["scfind.kernelsZ"] == "0, 3, 7, 15"
    assert strings["reliability.parameters"] == "peak, sum, mean"
    assert strings["dilation.threshold"] == "0.001"
    assert strings["rippleFilter.windowZ"] == "15"
    assert strings["output.overwrite"] == "true"
    assert strings["input.data"] == ""
    assert strings["flag.auto"] == "false"


def test_every_value_matches_the_binarys_votable():
    """All 101 settings (small.par on top of the defaults) equal the PARAMs SoFiA-2 wrote."""
    path = fixtures()
    params = read_par(path / "small.par", resolve_paths=False)
    root = ET.parse(path / "out_small" / "small_cat.xml").getroot()
    recorded = {e.get("name"): e.get("value") for e in root.iter() if e.tag.endswith("PARAM")}
    recorded.pop("Time")
    recorded.pop("Creator")
    assert list(recorded) == list(PARAMETER_KEYS)
    ours = params.to_strings()
    # SoFiA's parser truncates the recorded reliability.parameters to its first entry
    assert recorded.pop("reliability.parameters") == "peak"
    assert ours.pop("reliability.parameters") == "peak, sum, mean"
    assert ours == recorded


# --------------------------------------------------------------------------- syntax
def test_syntax_comments_and_lists(tmp_path):
    path = write(
        tmp_path,
        "\n".join(
            [
                "# a comment line",
                "   # indented comment",
                "-scfind.threshold = 9  (skipped: does not start with an alphanumeric)",
                "scfind.threshold   =   4.5   # comment after the value",
                "scfind.kernelsXY = 0,3 , 6.5",
                "scfind.kernelsZ=0, 3, 7",
                "linker.radiusZ = 2",
                "reliability.parameters = peak, sum, mean, skew",
                "flag.region = 0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15",
                "input.region = 1, 20, 2, 30, 0, 9",
                "flag.auto = channels",
                "parameter.prefix = WALLABY",
                "scfind.threshold = 4.0",  # later settings win, as in SoFiA
                "",
            ]
        ),
    )
    params = read_par(path)
    assert params["scfind.threshold"] == 4.0
    assert params["scfind.kernelsXY"] == (0, 3, 6.5)
    assert params["scfind.kernelsZ"] == (0, 3, 7)
    assert params["linker.radiusZ"] == 2
    assert params["reliability.parameters"] == ("peak", "sum", "mean", "skew")
    assert params["flag.region"] == ((0, 1, 2, 3, 4, 5), (10, 11, 12, 13, 14, 15))
    assert params["input.region"] == (1, 20, 2, 30, 0, 9)
    assert params["flag.auto"] == "channels"
    assert params["parameter.prefix"] == "WALLABY"
    assert params.source == str(path)


def test_boolean_only_lowercase_true(tmp_path):
    path = write(tmp_path, "reliability.enable = true\ndilation.enable = True\nparameter.wcs = 1\n")
    with pytest.warns(SofiaParameterWarning) as record:
        params = read_par(path)
    assert params["reliability.enable"] is True
    assert params["dilation.enable"] is False  # as in SoFiA
    assert params["parameter.wcs"] is False
    messages = " ".join(str(w.message) for w in record)
    assert "dilation.enable = 'True'" in messages and "parameter.wcs = '1'" in messages


def test_relative_paths_resolved_against_the_par_file(tmp_path):
    sub = tmp_path / "run"
    sub.mkdir()
    path = write(
        sub,
        "input.data = cube.fits\ninput.mask = ../masks/m.fits\n"
        "output.directory = out\nflag.catalog = /abs/flags.txt\n",
    )
    params = read_par(path)
    assert params["input.data"] == str(sub.resolve() / "cube.fits")
    assert params["input.mask"] == str(tmp_path.resolve() / "masks" / "m.fits")
    assert params["output.directory"] == str(sub.resolve() / "out")
    assert params["flag.catalog"] == "/abs/flags.txt"
    assert read_par(path, resolve_paths=False)["input.data"] == "cube.fits"


def test_empty_value_means_unset(tmp_path):
    path = write(tmp_path, "input.data =\ninput.noise = # nothing\n")
    params = read_par(path)
    assert params["input.data"] is None and params["input.noise"] is None


# --------------------------------------------------------------------------- errors
def test_misspelt_key_names_the_closest_valid_key(tmp_path):
    path = write(tmp_path, "scfind.treshold = 4.0\n")
    with pytest.raises(ValueError, match=r"scfind\.treshold.*did you mean 'scfind\.threshold'"):
        read_par(path)
    with pytest.raises(UnknownSofiaParameterError, match="reliability.scaleKernel"):
        SofiaParameters()["reliability.scalekernel"] = 0.5
    assert SofiaParameters().get("no.such") is None  # still a KeyError for Mapping.get


def test_unknown_key_warns_when_not_pedantic(tmp_path):
    path = write(tmp_path, "linker.radiusXYZ = 3\n")
    with pytest.warns(SofiaParameterWarning, match="linker.radiusXY"):
        params = read_par(path, pedantic=False)
    assert params["linker.radiusXY"] == 1
    # a file that switches pipeline.pedantic off is accepted, as by SoFiA
    path = write(tmp_path, "pipeline.pedantic = false\nlinker.radiusXYZ = 3\n", "relaxed.par")
    with pytest.warns(SofiaParameterWarning, match="ignored"):
        read_par(path)


@pytest.mark.parametrize("key", sorted(NEWER_SOFIA_KEYS))
def test_newer_sofia_keys_are_recognised(tmp_path, key):
    path = write(tmp_path, f"{key} = 3\n")
    with pytest.raises(ValueError, match=r"newer SoFiA-2 \(GitLab release >= 2\.6\)") as info:
        read_par(path)
    equivalent = NEWER_SOFIA_KEYS[key]
    if equivalent:
        assert equivalent.split()[0] in str(info.value)


@pytest.mark.parametrize("line, match", [
    ("scfind.statistic = foo", r"'foo' for SoFiA-2 parameter 'scfind.statistic'.*std, mad, gauss"),
    ("scfind.threshold = abc", r"'abc' for SoFiA-2 parameter 'scfind.threshold': expected a"),
    ("scfind.fluxRange = Negative", r"did you mean 'negative'"),
    ("scfind.kernelsZ = 0, 3.5", r"scfind.kernelsZ.*expected an integer"),
    ("scfind.kernelsXY = 0, -3", r"scfind.kernelsXY.*must be >= 0"),
    ("input.region = 0, 10, 0, 10, 0", r"input.region.*expected 6 integers"),
    ("flag.region = 0, 10, 0, 10, 0, 5, 3", r"flag.region.*multiple of 6"),
    ("input.region = 10, 0, 0, 10, 0, 5", r"min <= max"),
    ("reliability.parameters = peak, flux", r"unknown name 'flux'"),
    ("contsub.order = 2", r"contsub.order.*one of 0, 1"),
    ("linker.radiusXY = -1", r"linker.radiusXY.*>= 0"),
    ("linker.minSizeXY = 2.5", r"expected an integer"),
    ("scaleNoise.mode = global", r"spectral, local"),
    ("flag.auto = yes", r"false, channels, pixels, true"),
    ("scfind.threshold =", r"a value is required"),
])  # fmt: skip
def test_invalid_values_name_key_and_value(tmp_path, line, match):
    path = write(tmp_path, line + "\n")
    with pytest.raises(ValueError, match=match) as info:
        read_par(path)
    assert "line 1" in str(info.value)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"reliability.enable": True, "linker.keepNegative": True}, "keepNegative"),
        ({"reliability.enable": True, "linker.positivity": True}, "positivity"),
        ({"reliability.enable": True, "reliability.parameters": "peak"}, "< 2 dimensions"),
        ({"reliability.enable": True, "reliability.parameters": "peak, peak"}, "< 2 dimensions"),
        ({"scfind.enable": False}, "no source finder"),
    ],
)
def test_sanity_checks_as_sofia_at_start(tmp_path, settings, match):
    with pytest.raises(ValueError, match=match):
        check_par(SofiaParameters(settings))
    text = "".join(f"{k} = {SofiaParameters(settings).string(k)}\n" for k in settings)
    with pytest.raises(ValueError, match=match):
        read_par(write(tmp_path, text))


def test_sanity_checks_pass_and_warn():
    check_par(SofiaParameters({"scfind.enable": False, "input.mask": "/m.fits"}))
    check_par(SofiaParameters({"reliability.parameters": "peak"}))  # reliability off: fine
    with pytest.warns(SofiaParameterWarning, match="include 0"):
        check_par(SofiaParameters({"scfind.kernelsXY": "3, 6"}))
    with pytest.warns(SofiaParameterWarning, match="even spectral kernel"):
        check_par(SofiaParameters({"scfind.kernelsZ": "0, 4"}))
    with pytest.warns(SofiaParameterWarning, match="between 0 and 3"):
        check_par(SofiaParameters({"scfind.kernelsXY": "0, 2"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_par(SofiaParameters())


# --------------------------------------------------------------------------- the mapping object
def test_sofia_parameters_mapping_behaviour():
    params = SofiaParameters({"scfind.threshold": 4})
    assert params["scfind.threshold"] == 4.0 and isinstance(params["scfind.threshold"], float)
    params["scfind.kernelsZ"] = [0, 3]
    assert params["scfind.kernelsZ"] == (0, 3)
    params["flag.region"] = [(0, 1, 2, 3, 4, 5)]
    assert params.string("flag.region") == "0, 1, 2, 3, 4, 5"
    with pytest.raises(ValueError, match="expected True or False"):
        params["dilation.enable"] = 1
    with pytest.raises(ValueError, match="None is only allowed"):
        params["scfind.threshold"] = None
    del params["scfind.threshold"]
    assert params["scfind.threshold"] == 5.0
    assert len(params) == 101 and list(params) == list(PARAMETER_KEYS)
    assert params.changed() == {"scfind.kernelsZ": (0, 3), "flag.region": ((0, 1, 2, 3, 4, 5),)}
    assert "scfind.kernelsZ" in repr(params)
    copy = params.copy()
    copy["linker.radiusZ"] = 3
    assert params["linker.radiusZ"] == 1 and copy != params


# --------------------------------------------------------------------------- writing
def test_write_read_roundtrip(tmp_path):
    params = SofiaParameters(
        {
            "scfind.threshold": 3.5,
            "reliability.enable": True,
            "flag.region": "0, 1, 0, 1, 0, 1",
            "input.data": "/data/cube.fits",
            "parameter.prefix": "Test",
            "scaleNoise.mode": "local",
        }
    )
    path = write_par(params, tmp_path / "out.par")
    text = path.read_text()
    assert "reliability.enable" in text and "=  true" in text and "True" not in text
    assert read_par(path) == params
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    with pytest.raises(FileExistsError, match="out.par"):
        write_par(params, path)
    params["scfind.threshold"] = 6.0
    write_par(params, path, overwrite=True)
    assert read_par(path)["scfind.threshold"] == 6.0


def test_write_refuses_settings_sofia_rejects(tmp_path):
    with pytest.raises(ValueError, match="keepNegative"):
        write_par({"reliability.enable": True, "linker.keepNegative": True}, tmp_path / "bad.par")
    assert not (tmp_path / "bad.par").exists()


# --------------------------------------------------------------------------- finder keywords
def test_defaults_map_to_the_contract_defaults():
    kwargs = par_to_finder_kwargs(SofiaParameters())
    assert kwargs == CONTRACT_DEFAULTS
    assert list(kwargs)  # ordered like the SoFiA keys


def test_classical_finder_signature_matches_mapping():
    finder = pytest.importorskip("astro_mlfinder.classical.finder")
    import inspect

    signature = inspect.signature(finder.ClassicalFinder.__init__)
    defaults = {
        k: p.default
        for k, p in signature.parameters.items()
        # image_defaults and the keywords of reliability='neural' are not SoFiA's
        if k not in ("self", "image_defaults", "reliability_neural_threshold", "reliability_neural_weights")
        and p.kind is not p.VAR_KEYWORD
    }
    assert set(defaults) == set(CONTRACT_DEFAULTS)
    assert {k: defaults[k] for k in CONTRACT_DEFAULTS} == CONTRACT_DEFAULTS


def test_finder_kwargs_roundtrip():
    kwargs = dict(CONTRACT_DEFAULTS)
    kwargs.update(
        threshold=3.5,
        kernels_xy=[0, 4.5],
        kernels_z=(0, 5),
        scale_noise="local",
        scale_noise_window_xy=31,
        flag_regions=[(0, 2, 0, 2, 0, 2), (5, 6, 5, 6, 5, 6)],
        flag_auto="pixels",
        reliability=True,
        reliability_parameters=["peak", "sum"],
        dilation=True,
        physical=True,
        name_prefix="WALLABY",
        region=(0, 9, 0, 9, 0, 9),
        keep_negative=False,
        ripple_filter=True,
        ripple_statistic="mean",
        threshold_finder=True,
        threshold_finder_mode="absolute",
        gain="/g.fits",
    )
    params = finder_kwargs_to_par(kwargs)
    assert params["scaleNoise.enable"] is True and params["scaleNoise.mode"] == "local"
    assert params["flag.region"] == ((0, 2, 0, 2, 0, 2), (5, 6, 5, 6, 5, 6))
    back = par_to_finder_kwargs(params)
    expected = dict(kwargs, kernels_xy=(0, 4.5), reliability_parameters=("peak", "sum"))
    assert back == expected
    assert par_to_finder_kwargs(finder_kwargs_to_par({"scale_noise": None}))["scale_noise"] is None


def test_finder_kwargs_errors():
    with pytest.raises(ValueError, match="did you mean 'threshold'"):
        finder_kwargs_to_par({"treshold": 4})
    with pytest.raises(ValueError, match="scale_noise"):
        finder_kwargs_to_par({"scale_noise": "global"})
    with pytest.raises(ValueError, match="scfind.statistic"):
        finder_kwargs_to_par({"statistic": "median"})


def test_output_options():
    path = fixtures()
    options = par_output_options(read_par(path / "small.par"))
    assert options["directory"] == str(path.resolve() / "out_small")
    assert options["filename"] == "small"
    assert options["cat_sql"] and options["karma"] and options["cubelets"] and options["mask_2d"]
    assert not options["noise"] and options["margin_cubelets"] == 10
    defaults = par_output_options({"input.data": "/data/run1/cube.fits"})
    assert defaults["directory"] == "/data/run1" and defaults["filename"] == "cube"
    assert defaults["cat_ascii"] and defaults["cat_xml"] and not defaults["mask"]
    assert par_output_options({"output.filename": "res.fits"})["filename"] == "res"
    back = output_options_to_par(options)
    assert par_output_options(back) == options
    with pytest.raises(ValueError, match="did you mean 'cat_xml'"):
        output_options_to_par({"cat_xm": True})
    assert par_call_arguments({"input.mask": "/m.fits"}) == {"data": None, "mask": "/m.fits"}


def test_mapping_entries_defaults():
    by_key = {e.sofia_key: e for e in FINDER_MAPPING}
    assert by_key["scfind.kernelsZ"].default == (0, 3, 7, 15)
    assert by_key["scaleNoise.enable"].default is None
    assert by_key["output.writeMask"].default is False
    assert by_key["input.data"].target == "call"
    assert all(e.meaning for e in FINDER_MAPPING)


def _load_docs_tool():
    spec = importlib.util.spec_from_file_location("_sofia_parameters_docs", DOCS_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_page_is_generated_from_the_mapping():
    if not DOCS.exists() or not DOCS_TOOL.exists():
        pytest.skip("docs/ not available (installed package)")
    text = _load_docs_tool().render_mapping_rst()
    assert DOCS.read_text() == text, (
        "regenerate docs/sofia_parameters.rst with python docs/_ext/sofia_parameters.py"
    )
    for entry in FINDER_MAPPING:
        assert f"``{entry.sofia_key}``" in text
