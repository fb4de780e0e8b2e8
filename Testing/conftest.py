"""Shared fixtures: a small phantom with exact ground truth, the public data folder, and strict
DICOM encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def small_phantom():
    """A 6-frame 128² left-tree phantom (seed 0), made once per session; do not modify it."""
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    return make_phantom(PhantomOptions(seed=0, n_frames=6, size=128))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public real-data folder ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def strict_dicom():
    """pydicom raises on any invalid value, reading and writing, for the whole module (use with
    ``pytestmark = pytest.mark.usefixtures("strict_dicom")``, so that the module's fixtures
    write under it too)."""
    import pydicom

    settings = pydicom.config.settings
    before = settings.reading_validation_mode, settings.writing_validation_mode
    settings.reading_validation_mode = settings.writing_validation_mode = pydicom.config.RAISE
    yield
    settings.reading_validation_mode, settings.writing_validation_mode = before
