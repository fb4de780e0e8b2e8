"""QCA plots (:mod:`AngioSegLib.outputs.qca_plots`): PNG bytes, written atomically."""

from __future__ import annotations

import pytest

from AngioSegLib.errors import OutputExistsError
from AngioSegLib.outputs.qca_plots import plot_diameter_profile, plot_filling_curve


def test_plots_are_png_and_written_atomically(run_analysis, tmp_path):
    segment = run_analysis.segments[0]
    png = plot_diameter_profile(segment, run_analysis, tmp_path / "profile.png")
    assert png.startswith(b"\x89PNG") and (tmp_path / "profile.png").read_bytes() == png
    assert plot_filling_curve(run_analysis).startswith(b"\x89PNG")
    with pytest.raises(OutputExistsError, match="already exists"):
        plot_diameter_profile(segment, run_analysis, tmp_path / "profile.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.png"]
