"""Fixtures of the QCA tests: a phantom frame with two planted lesions, and a run analysed once."""

from __future__ import annotations

import pytest
from qca_phantoms import analyze_phantom_run, make_lesion_phantom


@pytest.fixture(scope="session")
def lesion_phantom():
    """See :func:`qca_phantoms.make_lesion_phantom`; do not modify it."""
    return make_lesion_phantom()


@pytest.fixture(scope="session")
def run_analysis(small_phantom):
    """The QCA of the session's small phantom (see :func:`qca_phantoms.analyze_phantom_run`)."""
    return analyze_phantom_run(small_phantom)
