"""QCA of a run (:mod:`AngioSegLib.qca.measures`): per-frame measures, the filling curve, the
analysis frame, and the units every result declares (:mod:`AngioSegLib.qca.units`)."""

from __future__ import annotations

import typing
from dataclasses import fields, replace

import numpy as np
import pytest

from AngioSegLib.cine import Calibration, CalibrationSource, CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.qca.measures import (
    FrameMeasures,
    analyze_run,
    choose_analysis_frame,
    filling_curve,
)
from AngioSegLib.qca.options import QcaOptions
from AngioSegLib.qca.results import SegmentMeasures, Stenosis
from AngioSegLib.qca.units import LENGTH, unit_kind

# Scalar float fields that carry no unit (ratios, times in s named so), by dataclass.
UNITLESS = {"tortuosity", "vessel_snr", "mean_contrast", "filling", "time_s"}


@pytest.mark.parametrize("kind", [SegmentMeasures, Stenosis, FrameMeasures])
def test_every_measure_declares_its_unit(kind):
    """Each float field of a QCA result is declared in the length unit, its square or % (the
    tables' keys come from that), or is one of the few unitless ones; results carry ``unit``."""
    hints = typing.get_type_hints(kind)
    assert hints["unit"] is str
    for item in fields(kind):
        if "float" in str(hints[item.name]) and "tuple" not in str(hints[item.name]):
            assert unit_kind(item) is not None or item.name in UNITLESS, item.name
    assert unit_kind(next(f for f in fields(kind) if f.name in ("mld", "centerline_length"))) \
        == LENGTH


def test_results_are_in_the_calibration_unit(run_analysis, small_phantom):
    assert run_analysis.unit == small_phantom.cine.calibration.unit == "mm"
    assert {s.unit for s in run_analysis.segments} == {"mm"}
    assert {s.unit for s in run_analysis.stenoses} <= {"mm"}
    assert {f.unit for f in run_analysis.frames} == {"mm"}


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


def test_analysis_frame_is_the_r_wave_nearest_peak_opacification():
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


def test_uncalibrated_run_is_in_pixels(small_phantom):
    cine = small_phantom.cine.with_calibration(Calibration())
    masks = small_phantom.masks[:2]
    cine = replace(cine, frames=cine.frames[:2], frame_times_s=None, r_wave_frames=())
    analysis = analyze_run(cine, masks.astype(np.float32), masks)
    assert analysis.unit == "px" and analysis.segments[0].unit == "px"
    assert analysis.frames[0].unit == "px"
    assert analysis.filling_curve.time_of(analysis.filling_curve.peak_frame) is None


def test_empty_masks_and_shape_mismatch(small_phantom):
    frames = np.full((2, 64, 64), 1000, np.uint16)
    cine = CineRun(frames=frames, calibration=Calibration(0.2, CalibrationSource.USER))
    empty = np.zeros((2, 64, 64), np.uint8)
    analysis = analyze_run(cine, empty.astype(np.float32), empty)
    assert analysis.segments == () and analysis.stenoses == ()
    assert analysis.frames[0].vessel_area == 0.0
    with pytest.raises(InputError, match="must match the cine's shape"):
        analyze_run(cine, empty[:1].astype(np.float32), empty[:1])
