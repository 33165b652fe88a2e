"""Shared fixtures for the integration tests."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.exists():
        pytest.skip("the shared/ fixtures are not available next to the checkout")
    return SHARED


@pytest.fixture(scope="session")
def small_sim():
    """A seeded simulated HI cube with bright and faint galaxies."""
    from astro_mlfinder.simulate.hi import simulate_hi_cube

    return simulate_hi_cube(shape=(96, 80, 80), n_sources=6, seed=11, snr_range=(12.0, 60.0))
