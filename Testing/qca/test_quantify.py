"""QCA: tubes of known geometry (straight, curved, stenosed), phantoms with lesions, runs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.spatial import cKDTree

from AngioSegLib.cine import Calibration, CalibrationSource, CineRun
from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.qca.analysis import (
    INTERPOLATED,
    MLD_METHODS,
    QcaOptions,
    analyze_profile,
    list_stenoses,
    measure_segments,
)
from AngioSegLib.qca.measures import analyze_run, filling_curve

SUPERSAMPLE = 4


def render_tube(shape, points_rc, radius_px) -> tuple[np.ndarray, np.ndarray]:
    """(mask uint8: pixel centres inside, probability float32: fraction of the pixel inside) of a
    tube along a dense polyline with per-point radius (px)."""
    points_rc = np.asarray(points_rc, float)
    radius_px = np.broadcast_to(np.asarray(radius_px, float), (len(points_rc),))
    tree = cKDTree(points_rc)

    def inside(rows, cols):
        grid = np.stack([rows.ravel(), cols.ravel()], 1)
        _, nearest = tree.query(grid)
        d = np.linalg.norm(grid - points_rc[nearest], axis=1)
        return (d <= radius_px[nearest]).reshape(rows.shape)

    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(float)
    mask = inside(rows, cols).astype(np.uint8)
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    fine = inside(*np.meshgrid((np.arange(h)[:, None] + sub).ravel(),
                               (np.arange(w)[:, None] + sub).ravel(), indexing="ij"))
    probability = fine.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE).mean((1, 3)).astype(np.float32)
    return mask, probability


def straight_line(centre, angle_deg, length_px, step=0.1):
    t = np.arange(-length_px / 2, length_px / 2 + step, step)
    a = np.deg2rad(angle_deg)
    return np.asarray(centre, float) + t[:, None] * np.array([np.sin(a), np.cos(a)])


def arc_line(centre, radius, start_deg, sweep_deg, step=0.1):
    angles = np.deg2rad(start_deg) + np.arange(0, np.deg2rad(sweep_deg), step / radius)
    return np.asarray(centre, float) + radius * np.stack([np.sin(angles), np.cos(angles)], 1)


def main_segment(segments):
    return max(segments, key=lambda s: s.length)


# --- straight and curved tubes ------------------------------------------------------------


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


def _interior_length_check(segment, points, spacing_mm, step_px, margin_px):
    """Measured arc between two interior centerline points vs. the true arc between their
    projections onto the true polyline (dense, ``step_px`` apart); relative error."""
    arc = segment.distance / spacing_mm
    keep = (arc >= margin_px) & (arc <= arc[-1] - margin_px)
    inner = segment.points_rc[keep]
    _, ends = cKDTree(points).query(inner[[0, -1]])
    measured = (arc[keep][-1] - arc[keep][0]) * spacing_mm
    true = abs(ends[1] - ends[0]) * step_px * spacing_mm
    return measured / true - 1.0


def test_curved_tube_length_and_rotation_invariance():
    """Arc of radius 40 px over 100°: length within 3 % of the true arc between the same points,
    diameters within 0.05 mm (MLD 0.08 mm) and lengths within 0.6 mm whatever the rotation."""
    results = []
    for rotation in (0.0, 37.0, 90.0, 151.0):
        points = arc_line((56, 56), 40.0, rotation, 100.0)
        mask, probability = render_tube((112, 112), points, 3.0)
        segment = main_segment(measure_segments(probability, mask, 0.2, "mm"))
        assert abs(_interior_length_check(segment, points, 0.2, 0.1, 8.0)) < 0.03
        results.append(segment)
    for segment in results[1:]:
        assert segment.mean_diameter == pytest.approx(results[0].mean_diameter, abs=0.05)
        assert segment.mld == pytest.approx(results[0].mld, abs=0.08)
        # the skeleton's ends inside the round caps move with pixelation by up to a radius
        assert segment.length == pytest.approx(results[0].length, abs=0.6)
    assert results[0].mean_diameter == pytest.approx(1.2, abs=0.06)
    assert results[0].tortuosity > 1.1


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


def test_a_vessel_cut_by_the_frame_edge_is_no_stenosis(monkeypatch):
    """A 2.4 mm tube that bends up to the top edge, where the frame cuts half of it off."""
    mm_per_pixel = 0.2
    cols = np.arange(10.0, 190.0, 0.1)
    rows = 3.0 + 40.0 * ((cols - 100.0) / 90.0) ** 2  # touches row 3 at the middle
    mask, probability = render_tube((64, 200), np.stack([rows, cols], 1), 6.0)
    found = list_stenoses(measure_segments(probability, mask, mm_per_pixel, "mm"))
    assert not [s for s in found if abs(s.position_rc[1] - 100) < 30]
    import AngioSegLib.qca.analysis as qca  # without the edge rule the cut reads as a lesion

    monkeypatch.setattr(qca, "leaves_image", lambda points, *_: np.zeros(len(points), bool))
    cut = list_stenoses(measure_segments(probability, mask, mm_per_pixel, "mm"))
    assert [s for s in cut if abs(s.position_rc[1] - 100) < 30]


def test_a_narrowing_is_listed_once_when_two_lesions_read_it():
    """A later lesion whose MLD lies in an earlier one's zone (stretch ± half its RVD) goes."""
    from AngioSegLib.qca.analysis import ProfileAnalysis, _distinct

    distance = np.linspace(0.0, 40.0, 401)
    reference = np.full(len(distance), 3.0)

    def lesion(mld_at_mm, start, end):
        i = int(np.argmin(np.abs(distance - mld_at_mm)))
        return ProfileAnalysis(reference, 1.5, i, 3.0, start, end, INTERPOLATED)

    first = lesion(10.0, 8.0, 12.0)
    assert _distinct((first, lesion(13.0, 12.5, 16.0)), distance) == (first,)  # 13 ≤ 12 + 1.5
    later = lesion(20.0, 18.0, 22.0)
    assert _distinct((first, later), distance) == (first, later)


def test_profile_reference_follows_the_taper():
    s = np.linspace(0, 40, 401)
    reference = 3.5 - 0.04 * s
    d = reference * (1 - 0.6 * np.exp(-0.5 * ((s - 25) / 1.2) ** 2))
    result = analyze_profile(s, d, np.ones_like(s, bool))
    assert result.rvd == pytest.approx(3.5 - 0.04 * 25, rel=0.01)
    assert result.mld == pytest.approx(d.min(), rel=1e-9)
    assert result.percent_diameter_stenosis == pytest.approx(60, abs=1.0)
    healthy = analyze_profile(s, reference, np.ones_like(s, bool))
    assert healthy.lesion_length is None
    assert healthy.percent_diameter_stenosis == pytest.approx(0, abs=0.5)


def test_options_are_checked():
    with pytest.raises(InputError, match="diameter method must be one of integral, iso"):
        QcaOptions(diameter_method="fwhm")
    with pytest.raises(InputError, match="lesion_threshold must be between 0 and 1"):
        QcaOptions(lesion_threshold=1.5)
    with pytest.raises(InputError, match="max_lesions must be 1 or more"):
        QcaOptions(max_lesions=0)
    with pytest.raises(InputError, match="MLD method must be one of densitometric, edge"):
        QcaOptions(mld_method="video")
    with pytest.raises(InputError, match="uncalibrated_mm_per_pixel must be more than 0"):
        QcaOptions(uncalibrated_mm_per_pixel=0.0)


# --- phantoms with planted stenoses --------------------------------------------------------


@pytest.fixture(scope="module")
def lesion_phantom():
    from AngioSegLib.phantom.generator import PhantomOptions, StenosisSpec, make_phantom

    stenoses = (StenosisSpec("LAD", 40.0, 5.0, 0.40), StenosisSpec("LCx", 75.0, 5.0, 0.45))
    return make_phantom(PhantomOptions(seed=3, n_frames=1, size=256, mm_per_pixel=0.2,
                                       motion=False, contrast_inflow=False, stenoses=stenoses))


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


def test_a_run_stored_as_intensity_is_logged_for_densitometry(lesion_phantom):
    """The phantom's frames turned back into transmitted intensity, as a "LIN" file stores them:
    analyze_run logs them and finds the stenoses it finds on the log-display frames."""
    display = lesion_phantom.cine.to_array().astype(np.float64)
    line_integral = 4.2 - display * 3.5 / 4095.0  # the phantom's log display, undone
    linear = replace(lesion_phantom.cine, frames=4000.0 * np.exp(-line_integral),
                     pixel_intensity_relationship="LIN")
    probabilities = lesion_phantom.masks.astype(np.float32)
    options = QcaOptions(mld_method="densitometric")
    logged = replace(lesion_phantom.cine, pixel_intensity_relationship="LOG")
    on_display = analyze_run(logged, probabilities, lesion_phantom.masks, options).stenoses
    on_linear = analyze_run(linear, probabilities, lesion_phantom.masks, options).stenoses
    assert on_display and [s.segment_id for s in on_linear] == [s.segment_id for s in on_display]
    for a, b in zip(on_linear, on_display, strict=True):
        assert a.mld_method == "densitometric"
        assert a.percent_diameter_stenosis == pytest.approx(b.percent_diameter_stenosis, abs=1.5)


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
        assert abs(_interior_length_check(segment, line.points_rc, 0.2, step_px, 10.0)) < 0.03
        checked += 1
    assert checked >= 3


# --- a whole run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_analysis(small_phantom):
    probabilities = np.stack([ndimage.gaussian_filter(m.astype(np.float32), 0.7)
                              for m in small_phantom.masks])
    return analyze_run(small_phantom.cine, probabilities, small_phantom.masks)


def test_run_analysis_frames_filling_and_analysis_frame(small_phantom, run_analysis):
    analysis = run_analysis
    assert len(analysis.frames) == small_phantom.cine.n_frames
    areas = [f.vessel_area for f in analysis.frames]
    scale = small_phantom.cine.calibration.scale
    expected = small_phantom.masks.reshape(len(areas), -1).sum(1) * scale**2
    assert areas == pytest.approx(list(expected), rel=1e-9)
    curve = analysis.filling_curve
    assert curve.filling.max() == pytest.approx(1.0)
    assert curve.arrival_frame <= curve.peak_frame
    assert "R-wave" in analysis.analysis_rule
    assert all(f.n_segments >= 1 for f in analysis.frames)
    severities = [s.percent_diameter_stenosis for s in analysis.stenoses]
    assert severities == sorted(severities, reverse=True)
    assert all(s >= 20 for s in severities)


def test_without_r_waves_the_peak_frame_is_analysed(small_phantom):
    cine = replace(small_phantom.cine, r_wave_frames=())
    masks = small_phantom.masks
    analysis = analyze_run(cine, masks.astype(np.float32), masks)
    assert analysis.analysis_frame == analysis.filling_curve.peak_frame
    assert "no R-wave pointers" in analysis.analysis_rule


def test_the_user_picks_the_analysis_frame(small_phantom):
    masks = small_phantom.masks
    analysis = analyze_run(small_phantom.cine, masks.astype(np.float32), masks,
                           QcaOptions(analysis_frame=1))
    assert analysis.analysis_frame == 1 and analysis.analysis_rule == "chosen by the user"
    assert all(s.frame == 1 for s in analysis.segments)
    with pytest.raises(InputError, match="analysis frame 999 is not in the run"):
        analyze_run(small_phantom.cine, masks.astype(np.float32), masks,
                    QcaOptions(analysis_frame=999))


def test_one_lesion_list_in_console_json_csv_and_plots(run_analysis):
    """Every listed stenosis is its segment's own numbers when it is the segment's first, the
    console lines are the stenosis list's, and a segment's plot is titled with its most severe
    listed lesion (never with an unlisted stretch)."""
    from AngioSegLib.outputs.qca_plots import plot_diameter_profile

    analysis = run_analysis
    lines = analysis.summary_lines()[1:]
    assert len(lines) == max(len(analysis.stenoses), 1)
    data = analysis.to_json()
    assert [s["percent_diameter_stenosis_percent"] for s in data["stenoses"]] == [
        s.percent_diameter_stenosis for s in analysis.stenoses]
    for segment in analysis.segments:
        listed = [s for s in analysis.stenoses if s.segment_id == segment.segment_id]
        assert segment.n_stenoses == len(listed)
        if listed:
            assert segment.percent_diameter_stenosis in [s.percent_diameter_stenosis
                                                         for s in listed]
    for stenosis, line in zip(analysis.stenoses, lines, strict=False):
        assert line.startswith(f"{stenosis.segment_label}: "
                               f"{stenosis.percent_diameter_stenosis:.0f} %DS")
    captured = {}
    import AngioSegLib.outputs.qca_plots as plots

    original = plots.plt.Axes.set_title

    def spy(self, label, *args, **kwargs):
        captured["title"] = label
        return original(self, label, *args, **kwargs)

    plots.plt.Axes.set_title = spy
    try:
        for segment in analysis.segments:
            plot_diameter_profile(segment, analysis)
            listed = [s for s in analysis.stenoses if s.segment_id == segment.segment_id]
            if listed:
                worst = max(listed, key=lambda s: s.percent_diameter_stenosis)
                assert captured["title"].endswith(
                    f": {worst.percent_diameter_stenosis:.0f} %DS, "
                    f"{worst.percent_area_stenosis:.0f} %AS")
            else:
                assert captured["title"].endswith("no listed stenosis")
    finally:
        plots.plt.Axes.set_title = original


def test_qca_points_option_is_parsed():
    from AngioSegLib.cli.segment import _parse_qca_points

    assert _parse_qca_points("10,20 30.5,40") == ((10.0, 20.0), (30.5, 40.0))
    assert _parse_qca_points("10,20,30,40") == ((10.0, 20.0), (30.0, 40.0))
    assert _parse_qca_points(None) is None
    with pytest.raises(InputError, match="--qca-points needs two pixels"):
        _parse_qca_points("10,20")


def test_analysis_frame_is_the_r_wave_nearest_peak_opacification():
    from AngioSegLib.qca.measures import choose_analysis_frame

    curve = filling_curve(np.array([0, 2, 5, 9, 10, 9.5, 9, 8, 6, 4], float))
    assert curve.peak_frame == 4
    frame, rule = choose_analysis_frame(curve, (1, 6, 9))
    assert frame == 6 and rule.startswith("end-diastole")
    frame, rule = choose_analysis_frame(curve, (1, 9))
    assert frame == 4 and "no R-wave frame reaches 80%" in rule


def test_filling_curve_landmarks():
    values = np.array([0, 0, 0, 1, 4, 8, 10, 9, 7, 4, 3, 3], float)
    curve = filling_curve(values, np.arange(12) / 10)
    assert (curve.arrival_frame, curve.peak_frame, curve.washout_frame) == (3, 6, 9)
    assert curve.time_of(curve.peak_frame) == pytest.approx(0.6)


def test_json_and_csv_carry_units_and_calibration(run_analysis, tmp_path):
    data = json.loads(json.dumps(run_analysis.to_json()))
    assert data["unit"] == "mm"
    assert data["calibration"]["source"] == CalibrationSource.SYNTHETIC.value
    assert "mld_mm" in data["segments"][0] and "vessel_area_mm2" in data["frames"][0]
    path = run_analysis.write_segments_csv(tmp_path / "qca.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert {"mld_mm", "edge_mld_mm", "mld_method", "percent_diameter_stenosis_percent"} <= set(
        header)
    assert header[-1] == "calibration_source"
    frames = run_analysis.write_frames_csv(tmp_path / "frames.csv").read_text().splitlines()
    assert len(frames) == len(run_analysis.frames) + 1
    with pytest.raises(OutputExistsError, match="already exists"):
        run_analysis.write_segments_csv(tmp_path / "qca.csv")
    run_analysis.write_segments_csv(tmp_path / "qca.csv", force=True)
    empty = replace(run_analysis, segments=()).write_segments_csv(tmp_path / "empty.csv")
    assert empty.read_text().splitlines() == [",".join(header)]  # the header, no rows


def test_uncalibrated_run_is_in_pixels(small_phantom):
    cine = small_phantom.cine.with_calibration(Calibration())
    masks = small_phantom.masks[:2]
    cine = replace(cine, frames=cine.frames[:2], frame_times_s=None, r_wave_frames=())
    analysis = analyze_run(cine, masks.astype(np.float32), masks)
    data = analysis.to_json()
    assert data["unit"] == "px" and "length_px" in data["segments"][0]
    assert "vessel_area_px2" in data["frames"][0]
    assert data["filling_curve"]["peak_time_s"] is None


def test_empty_masks_and_shape_mismatch(small_phantom):
    frames = np.full((2, 64, 64), 1000, np.uint16)
    cine = CineRun(frames=frames, calibration=Calibration(0.2, CalibrationSource.USER))
    empty = np.zeros((2, 64, 64), np.uint8)
    analysis = analyze_run(cine, empty.astype(np.float32), empty)
    assert analysis.segments == () and analysis.stenoses == ()
    assert analysis.frames[0].vessel_area == 0.0
    with pytest.raises(InputError, match="must match the cine's shape"):
        analyze_run(cine, empty[:1].astype(np.float32), empty[:1])


def test_plots_are_png_and_written_atomically(run_analysis, tmp_path):
    from AngioSegLib.outputs.qca_plots import plot_diameter_profile, plot_filling_curve

    segment = run_analysis.segments[0]
    png = plot_diameter_profile(segment, run_analysis, tmp_path / "profile.png")
    assert png.startswith(b"\x89PNG") and (tmp_path / "profile.png").read_bytes() == png
    assert plot_filling_curve(run_analysis).startswith(b"\x89PNG")
    with pytest.raises(OutputExistsError, match="already exists"):
        plot_diameter_profile(segment, run_analysis, tmp_path / "profile.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.png"]


def test_report_shows_the_stenosis_list_and_what_was_excluded(small_phantom, run_analysis):
    """The report's stenosis table has a row per listed stenosis, with both MLDs."""
    from AngioSegLib.outputs.report import render_report_html
    from AngioSegLib.pipeline import PipelineOptions, Result

    result = Result(cine=small_phantom.cine, options=PipelineOptions(),
                    probabilities=small_phantom.masks.astype(np.float32),
                    masks=small_phantom.masks, analysis=run_analysis)
    page = render_report_html(result)
    assert "MLD, densitometric" in page and "through a break" in page
    for s in run_analysis.stenoses:
        assert (f"<td>{s.segment_label}</td><td>–</td><td>{s.percent_diameter_stenosis:.0f}</td>"
                in page)  # no coronary segment named by a vessel-only model
