"""Fixtures of the output tests: a run analysed once, as the QCA tests analyse it."""

from __future__ import annotations

import pytest
from qca_phantoms import analyze_phantom_run


@pytest.fixture(scope="session")
def run_analysis(small_phantom):
    """The QCA of the session's small phantom (see :func:`qca_phantoms.analyze_phantom_run`)."""
    return analyze_phantom_run(small_phantom)
