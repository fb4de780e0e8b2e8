"""Centerlines (:mod:`AngioSegLib.qca.centerline`): lengths along straight, curved and phantom
vessels, whatever the rotation, and analysis segments linked through bifurcations."""

from __future__ import annotations

import numpy as np
import pytest
from qca_phantoms import (
    arc_line,
    interior_length_error,
    main_segment,
    render_tube,
    straight_line,
)
from scipy.spatial import cKDTree

from AngioSegLib.qca.analysis import measure_segments
from AngioSegLib.qca.centerline import extract_centerlines, link_vessels


def test_a_straight_tube_is_one_centerline_of_its_length():
    """A 60 px tube of radius 3 px: one segment, no junction, its arc length the tube's less
    about a radius at each round cap, its normals across the tube."""
    mask, _ = render_tube((96, 96), straight_line((48.0, 48.0), 30.0, 60.0), 3.0)
    (segment,) = extract_centerlines(mask)
    assert not segment.start_is_junction and not segment.end_is_junction
    assert segment.length_px == pytest.approx(60.0, abs=2 * 3.0 + 1.0)
    assert segment.length_px / segment.chord_px == pytest.approx(1.0, abs=0.02)
    along = np.array([np.sin(np.deg2rad(30.0)), np.cos(np.deg2rad(30.0))])
    assert np.abs(segment.normals_rc @ along).max() < 0.2


def test_a_branching_tube_links_into_vessels_through_the_bifurcation():
    """A straight vessel with a side branch: three centerline segments meet at the junction,
    linked into fewer analysis segments, one running straight through it."""
    parent = straight_line((60.0, 60.0), 0.0, 100.0)
    branch = (60.0, 60.0) + np.arange(0.0, 40.0, 0.1)[:, None] * np.array(
        [np.sin(np.deg2rad(50.0)), np.cos(np.deg2rad(50.0))])
    shape = (120, 120)
    mask = np.maximum(render_tube(shape, parent, 3.0)[0], render_tube(shape, branch, 2.5)[0])
    segments = extract_centerlines(mask)
    assert len(segments) == 3
    vessels = link_vessels(segments, mask)
    assert len(vessels) < len(segments)
    through = max(vessels, key=lambda v: v.length_px)
    assert len(through.junction_arc_px) == 1 and through.length_px > 90


def test_curved_tube_length_and_rotation_invariance():
    """Arc of radius 40 px over 100°: length within 3 % of the true arc between the same points,
    diameters within 0.05 mm (MLD 0.08 mm) and lengths within 0.6 mm whatever the rotation."""
    results = []
    for rotation in (0.0, 37.0, 90.0, 151.0):
        points = arc_line((56, 56), 40.0, rotation, 100.0)
        mask, probability = render_tube((112, 112), points, 3.0)
        segment = main_segment(measure_segments(probability, mask, 0.2, "mm"))
        assert abs(interior_length_error(segment, points, 0.2, 0.1, 8.0)) < 0.03
        results.append(segment)
    for segment in results[1:]:
        assert segment.mean_diameter == pytest.approx(results[0].mean_diameter, abs=0.05)
        assert segment.mld == pytest.approx(results[0].mld, abs=0.08)
        # the skeleton's ends inside the round caps move with pixelation by up to a radius
        assert segment.length == pytest.approx(results[0].length, abs=0.6)
    assert results[0].mean_diameter == pytest.approx(1.2, abs=0.06)
    assert results[0].tortuosity > 1.1


def test_phantom_segment_lengths_match_the_true_centerlines(lesion_phantom):
    """Each analysis segment's length equals the true arc between its end points' projections
    onto the branch it follows, within 3 %."""
    mask = lesion_phantom.masks[0]
    segments = measure_segments(mask.astype(np.float32), mask, 0.2, "mm")
    checked = 0
    for segment in segments:
        if segment.length < 5.0 or segment.n_bifurcations:
            continue
        best = None
        for line in lesion_phantom.centerlines[0]:
            distance, _ = cKDTree(line.points_rc).query(segment.points_rc)
            if best is None or distance.mean() < best[0]:
                best = (distance.mean(), line)
        if best[0] > 1.0:  # the segment runs through a bifurcation into another branch
            continue
        line = best[1]
        step_px = float(np.median(np.diff(line.arc_length_mm))) / 0.2
        assert abs(interior_length_error(segment, line.points_rc, 0.2, step_px, 10.0)) < 0.03
        checked += 1
    assert checked >= 3
