"""Diameters (:mod:`AngioSegLib.qca.diameter`, :mod:`AngioSegLib.qca.segment_profile`): width
estimators on profiles of known width, and tubes of known diameter whatever the angle, pixel
size and method."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qca_phantoms import SUPERSAMPLE, arc_line, main_segment, render_tube, straight_line

from AngioSegLib.qca.analysis import QcaOptions, list_stenoses, measure_segments
from AngioSegLib.qca.diameter import DIAMETER_METHODS, leaves_image, profile_widths


@settings(max_examples=20, deadline=None)
@given(width_px=st.floats(2.0, 20.0), method=st.sampled_from(DIAMETER_METHODS))
def test_profile_widths_of_a_box_profile(width_px, method):
    """A profile that is 1 over ``width_px`` px and 0 elsewhere, sampled every 0.25 px: both
    estimators give its width to a sample."""
    offsets = np.arange(-20.0, 20.0 + 0.125, 0.25)
    values = (np.abs(offsets) <= width_px / 2).astype(float)[None, :]
    (width,) = profile_widths(offsets, values, method)
    assert width == pytest.approx(width_px, abs=0.5)


def test_profile_widths_of_an_empty_profile_is_no_width():
    offsets = np.arange(-10.0, 10.0 + 0.125, 0.25)
    widths = profile_widths(offsets, np.zeros((3, len(offsets))), "integral")
    assert np.all(np.nan_to_num(widths) == 0.0)


def test_leaves_image_flags_cross_sections_that_reach_the_edge():
    points = np.array([[50.0, 50.0], [3.0, 50.0]])
    normals = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert leaves_image(points, normals, np.array([5.0, 5.0]), (100, 100)).tolist() == [False,
                                                                                        True]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diameter_px=st.floats(4.0, 12.0), angle=st.floats(0.0, 180.0),
       mm_per_pixel=st.floats(0.15, 0.3), offset=st.floats(0.0, 1.0))
def test_straight_tube_measures_its_diameter(diameter_px, angle, mm_per_pixel, offset):
    centre = (48.0 + offset, 48.0 + offset / 3)
    mask, probability = render_tube((96, 96), straight_line(centre, angle, 60.0), diameter_px / 2)
    segment = main_segment(measure_segments(probability, mask, mm_per_pixel, "mm"))
    # the rendering itself quantises each edge to 1/SUPERSAMPLE px (a grid-aligned 4.25 px tube
    # renders 4.0 px wide)
    rendering_mm = mm_per_pixel / SUPERSAMPLE
    assert segment.mean_diameter == pytest.approx(diameter_px * mm_per_pixel,
                                                  abs=max(0.06, 0.02 + rendering_mm))
    assert segment.mld == pytest.approx(diameter_px * mm_per_pixel, abs=0.10)
    assert segment.percent_diameter_stenosis is None or segment.percent_diameter_stenosis < 10
    assert segment.tortuosity == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("method", ["integral", "iso"])
def test_binary_mask_and_both_methods_measure_a_tube(method):
    mask, _ = render_tube((96, 96), straight_line((48.3, 47.6), 33.0, 60.0), 3.5)
    options = QcaOptions(diameter_method=method)
    segment = main_segment(measure_segments(mask.astype(np.float32), mask, 0.2, "mm", 0, options))
    assert segment.mean_diameter == pytest.approx(1.4, abs=0.06)


def test_scaling_the_pixel_spacing_scales_lengths_and_diameters():
    mask, probability = render_tube((96, 96), arc_line((80, 20), 50.0, -80, 70), 3.0)
    base = QcaOptions(profile_sigma_mm=0.2, min_branch_mm=0.6)
    first = main_segment(measure_segments(probability, mask, 0.2, "mm", 0, base))
    k = 1.7
    scaled_options = replace(base, profile_sigma_mm=0.2 * k, min_branch_mm=0.6 * k)
    second = main_segment(measure_segments(probability, mask, 0.2 * k, "mm", 0, scaled_options))
    for name in ("length", "mean_diameter", "mld", "mld_position"):
        assert getattr(second, name) == pytest.approx(k * getattr(first, name), rel=1e-9)
    assert second.tortuosity == pytest.approx(first.tortuosity, rel=1e-12)


def test_a_vessel_cut_by_the_frame_edge_is_no_stenosis(monkeypatch):
    """A 2.4 mm tube that bends up to the top edge, where the frame cuts half of it off."""
    mm_per_pixel = 0.2
    cols = np.arange(10.0, 190.0, 0.1)
    rows = 3.0 + 40.0 * ((cols - 100.0) / 90.0) ** 2  # touches row 3 at the middle
    mask, probability = render_tube((64, 200), np.stack([rows, cols], 1), 6.0)
    found = list_stenoses(measure_segments(probability, mask, mm_per_pixel, "mm"))
    assert not [s for s in found if abs(s.position_rc[1] - 100) < 30]
    import AngioSegLib.qca.segment_profile as profile  # without the edge rule: a lesion

    monkeypatch.setattr(profile, "leaves_image", lambda points, *_: np.zeros(len(points), bool))
    cut = list_stenoses(measure_segments(probability, mask, mm_per_pixel, "mm"))
    assert [s for s in cut if abs(s.position_rc[1] - 100) < 30]
