"""QCA of one frame (:mod:`AngioSegLib.qca.analysis`, :mod:`AngioSegLib.qca.stenosis_list`):
stenosed tubes and phantoms with planted lesions give their MLD, RVD, %DS and lesion length, and
the stenosis list holds the lesions it should."""

from __future__ import annotations

import numpy as np
import pytest
from qca_phantoms import main_segment, render_tube, straight_line
from scipy import ndimage

from AngioSegLib.qca.analysis import MLD_METHODS, QcaOptions, list_stenoses, measure_segments
from AngioSegLib.qca.centerline import CenterlineSegment
from AngioSegLib.qca.lumen_edges import LumenBorders
from AngioSegLib.qca.profile_analysis import ProfileAnalysis, ReferenceMethod
from AngioSegLib.qca.stenosis_list import (
    contrast_narrows,
    junction_contrast_narrows,
    segmentation_narrows,
)


def test_an_uncalibrated_run_takes_the_option_lengths_at_a_nominal_pixel(lesion_phantom):
    """In px with ``uncalibrated_mm_per_pixel`` = the true pixel size, every measure is the mm
    one divided by that size (smoothing, pruning and densitometry windows alike)."""
    mask, image = lesion_phantom.masks[0], lesion_phantom.cine.frame(0)
    options = QcaOptions(uncalibrated_mm_per_pixel=0.2)
    in_mm = measure_segments(mask.astype(np.float32), mask, 0.2, "mm", 0, options, image=image)
    in_px = measure_segments(mask.astype(np.float32), mask, 1.0, "px", 0, options, image=image)
    assert len(in_px) == len(in_mm)
    for px, mm in zip(in_px, in_mm, strict=True):
        for name in ("length", "mean_diameter", "mld", "edge_mld", "rvd", "mld_position"):
            if getattr(mm, name) is not None:
                assert 0.2 * getattr(px, name) == pytest.approx(getattr(mm, name), rel=1e-6)
        assert px.mld_method == mm.mld_method
    # the listing rules too (the RVD floor among them): the same stenoses
    assert [s.mld_position * 0.2 for s in list_stenoses(in_px)] == pytest.approx(
        [s.mld_position for s in list_stenoses(in_mm)], rel=1e-6)


@pytest.mark.parametrize(("percent", "mm_per_pixel"), [(30, 0.3), (50, 0.2), (70, 0.25),
                                                        (80, 0.2)])
def test_stenosed_tube_gives_mld_and_percent_stenosis(percent, mm_per_pixel):
    """Raised-cosine narrowing (as the phantom plants it) on a gently tapering 3 mm tube."""
    length_mm, lesion_mm = 28.0, 5.0
    points = straight_line((64, 64), 20.0, length_mm / mm_per_pixel, step=0.1)
    s = np.linspace(0.0, length_mm, len(points))
    reference = 3.0 - 0.02 * s
    x = np.clip((s - 14.0) / lesion_mm, -0.5, 0.5)
    diameter = reference * (1 - percent / 100 * 0.5 * (1 + np.cos(2 * np.pi * x)))
    size = int(length_mm / mm_per_pixel) + 24
    points = points - 64 + size / 2
    mask, probability = render_tube((size, size), points, diameter / 2 / mm_per_pixel)
    segment = main_segment(measure_segments(probability, mask, mm_per_pixel, "mm"))
    rvd_true = 3.0 - 0.02 * 14.0
    mld_true = rvd_true * (1 - percent / 100)
    assert segment.mld == pytest.approx(mld_true, abs=0.12)
    assert segment.rvd == pytest.approx(rvd_true, abs=0.15)
    assert segment.percent_diameter_stenosis == pytest.approx(percent, abs=5.0)
    assert segment.percent_area_stenosis == pytest.approx(
        100 * (1 - (segment.mld / segment.rvd) ** 2), rel=1e-9)
    expected_lesion = lesion_mm * np.arccos(2 * 0.2 / (percent / 100) - 1) / np.pi
    assert segment.lesion_length == pytest.approx(expected_lesion, abs=1.2)
    assert segment.reference_method.startswith("interpolated")


def test_two_lesions_on_one_vessel_are_both_listed():
    """A 50 % and a 70 % narrowing 20 mm apart on one tube: two stenoses, most severe first."""
    mm_per_pixel, length_mm = 0.2, 50.0
    points = straight_line((0, 0), 10.0, length_mm / mm_per_pixel, step=0.1)
    s = np.linspace(0.0, length_mm, len(points))
    narrowing = np.zeros_like(s)
    for centre_mm, percent in ((15.0, 50), (35.0, 70)):
        x = np.clip((s - centre_mm) / 5.0, -0.5, 0.5)
        narrowing += percent / 100 * 0.5 * (1 + np.cos(2 * np.pi * x))
    size = int(length_mm / mm_per_pixel) + 24
    mask, probability = render_tube((size, size), points + size / 2, 3.0 * (1 - narrowing) / 2
                                    / mm_per_pixel)
    segments = measure_segments(probability, mask, mm_per_pixel, "mm")
    stenoses = list_stenoses(segments)
    assert [round(x.percent_diameter_stenosis / 10) for x in stenoses] == [7, 5]
    assert all(x.segment_id == main_segment(segments).segment_id for x in stenoses)
    positions = sorted(x.mld_position for x in stenoses)
    assert positions[1] - positions[0] == pytest.approx(20.0, abs=1.0)
    single = list_stenoses(measure_segments(probability, mask, mm_per_pixel, "mm",
                                            options=QcaOptions(max_lesions=1)),
                           QcaOptions(max_lesions=1))
    assert len(single) == 1 and single[0].percent_diameter_stenosis > 60


def branch_with_narrowing(at_origin: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mask, probability) at 0.2 mm/px: a straight 3 mm vessel and a 2.4 mm branch leaving it
    at 45°, with a 50 % narrowing (4 mm long) at the branch's origin or at its free tip."""
    mm_per_pixel, branch_mm = 0.2, 24.0
    parent = straight_line((120.0, 60.0), 90.0, 100.0, step=0.1)
    branch = (120.0, 60.0) + np.arange(0.0, branch_mm / mm_per_pixel, 0.1)[:, None] * np.array(
        [np.sin(np.deg2rad(45.0)), np.cos(np.deg2rad(45.0))])
    s = np.linspace(0.0, branch_mm, len(branch))
    centre = 4.0 if at_origin else branch_mm - 4.0
    x = np.clip((s - centre) / 4.0, -0.5, 0.5)
    radius = 2.4 * (1 - 0.5 * 0.5 * (1 + np.cos(2 * np.pi * x))) / 2 / mm_per_pixel
    shape = (200, 200)
    parts = [render_tube(shape, parent, 1.5 / mm_per_pixel), render_tube(shape, branch, radius)]
    return (np.maximum(parts[0][0], parts[1][0]), np.maximum(parts[0][1], parts[1][1]))


def test_an_ostial_lesion_is_listed_a_tip_narrowing_is_not():
    """One-sided lesions are listed where a bifurcation ends the segment (the branch's ostium),
    not at a vessel's free tip."""
    mask, probability = branch_with_narrowing(at_origin=True)
    ostial = list_stenoses(measure_segments(probability, mask, 0.2, "mm"))
    assert len(ostial) == 1
    assert ostial[0].reference_method in ("distal only", "proximal only")
    assert ostial[0].percent_diameter_stenosis == pytest.approx(50.0, abs=8.0)
    mask, probability = branch_with_narrowing(at_origin=False)
    assert not list_stenoses(measure_segments(probability, mask, 0.2, "mm"))


def _planted_centre(phantom, planted) -> np.ndarray:
    """(row, col) of a planted lesion's centre in frame 0."""
    line = next(c for c in phantom.centerlines[0] if c.name == planted.segment)
    return np.array([np.interp(planted.position_mm, line.arc_length_mm, line.points_rc[:, k])
                     for k in (0, 1)])


def _matching_segment(segments, centre_rc):
    distance = [np.linalg.norm(s.points_rc - centre_rc, axis=1).min() for s in segments]
    return segments[int(np.argmin(distance))]


@pytest.mark.parametrize("blur_px", [0.0, 0.7])
def test_phantom_stenoses_are_measured(lesion_phantom, blur_px):
    mask = lesion_phantom.masks[0]
    probability = mask.astype(np.float32)
    if blur_px:
        probability = ndimage.gaussian_filter(probability, blur_px)
    segments = measure_segments(probability, mask, 0.2, "mm")
    for planted in lesion_phantom.stenoses:
        centre = _planted_centre(lesion_phantom, planted)
        segment = _matching_segment(segments, centre)
        assert np.linalg.norm(np.array(segment.mld_rc) - centre) * 0.2 < planted.length_mm / 2
        assert segment.mld == pytest.approx(planted.mld_mm, abs=0.12)
        assert segment.percent_diameter_stenosis == pytest.approx(planted.percent_diameter,
                                                                  abs=5.0)


def test_phantom_stenoses_from_a_widened_segmentation(lesion_phantom):
    """A segmentation one pixel too wide all round (as a network rounds a tight lumen off): with
    the noisy frame, the densitometric %DS stays within 5 points of the truth; edges do not."""
    mask = ndimage.binary_dilation(lesion_phantom.masks[0]).astype(np.uint8)
    image = lesion_phantom.cine.frame(0)
    errors = {}
    for method in MLD_METHODS:
        segments = measure_segments(mask.astype(np.float32), mask, 0.2, "mm", 0,
                                    QcaOptions(mld_method=method), image=image)
        for planted in lesion_phantom.stenoses:
            segment = _matching_segment(segments, _planted_centre(lesion_phantom, planted))
            assert segment.mld_method == method
            errors[method, planted.segment] = (segment.percent_diameter_stenosis
                                               - planted.percent_diameter)
    assert abs(errors["densitometric", "LAD"]) < 5 and abs(errors["densitometric", "LCx"]) < 5
    assert errors["edge", "LCx"] < -5  # the tight lesion looks milder


def test_an_ostial_lesion_needs_the_segmentation_to_narrow_with_it():
    """A 60 %DS one-sided lesion: listed where the segmentation's radius at the MLD is 60 % of
    its healthy radius, not where it is 90 % (1 − 0.25 × 0.6 = 0.85 is the limit)."""
    healthy = np.zeros(40, bool)
    healthy[20:] = True
    lesion = ProfileAnalysis(reference=np.full(40, 3.0), mld=1.2, mld_index=5, rvd=3.0,
                             lesion_start=0.0, lesion_end=2.0,
                             reference_method=ReferenceMethod.DISTAL_ONLY, healthy=healthy)
    assert lesion.percent_diameter_stenosis == pytest.approx(60.0)
    for at_mld, listed in ((3.0, True), (4.5, False)):
        rough = np.full(40, 5.0)
        rough[5] = at_mld
        assert segmentation_narrows(lesion, rough) is listed


def test_an_ostial_lesion_needs_its_lumen_to_show_and_fade_with_it():
    """The same 60 %DS lesion, its healthy lumen 20 noise SDs deep: listed where the centre is 8
    SDs deep at the MLD (shallower, as a narrowed lumen is); not where it is as deep as the
    healthy lumen (a border locked onto the parent vessel) nor where the lumen is gone (2 SDs:
    a segmentation bridge across the background)."""
    healthy = np.zeros(40, bool)
    healthy[20:] = True
    lesion = ProfileAnalysis(reference=np.full(40, 3.0), mld=1.2, mld_index=5, rvd=3.0,
                             lesion_start=0.0, lesion_end=2.0,
                             reference_method=ReferenceMethod.DISTAL_ONLY, healthy=healthy)
    for at_mld, listed in ((8.0, True), (20.0, False), (2.0, False)):
        depth = np.full(40, 20.0)
        depth[5] = at_mld
        borders = LumenBorders(np.full(40, 1.5), np.full(40, 1.5), np.ones(40, bool), depth, 1.0)
        assert contrast_narrows(lesion, borders) is listed
    assert contrast_narrows(lesion, None)


def test_a_two_sided_lesion_at_a_junction_needs_its_lumen_to_fade_with_it():
    """A 60 %DS interpolated lesion at sample 20 of a 60-sample vessel (1 px apart, healthy
    segmentation radius 3 px, so the junction check reaches 2 × 6 = 12 px): with a bifurcation
    crossed 5 px away it is listed only where the lumen's centre is shallower at the MLD (8 of 20
    noise SDs), not where it keeps the healthy depth (borders locked onto the other vessel); with
    the bifurcation 30 px away it is listed either way."""
    healthy = np.ones(60, bool)
    healthy[14:27] = False
    lesion = ProfileAnalysis(reference=np.full(60, 3.0), mld=1.2, mld_index=20, rvd=3.0,
                             lesion_start=16.0, lesion_end=24.0,
                             reference_method=ReferenceMethod.INTERPOLATED, healthy=healthy)
    arc = np.arange(60, dtype=float)
    for junction_at, at_mld, listed in ((25.0, 8.0, True), (25.0, 20.0, False),
                                        (50.0, 20.0, True)):
        centerline = CenterlineSegment(
            index=0, points_rc=np.stack([arc, arc], axis=1), arc_px=arc,
            normals_rc=np.tile([0.0, 1.0], (60, 1)), start_node=0, end_node=1,
            start_is_junction=False, end_is_junction=False, junction_arc_px=(junction_at,))
        depth = np.full(60, 20.0)
        depth[20] = at_mld
        borders = LumenBorders(np.full(60, 1.5), np.full(60, 1.5), np.ones(60, bool), depth, 1.0)
        rough = np.full(60, 3.0)
        assert junction_contrast_narrows(lesion, centerline, rough, borders) is listed
    assert junction_contrast_narrows(lesion, centerline, rough, None)
