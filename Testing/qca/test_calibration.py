"""Catheter calibration on rendered catheters (projected solid tubes, blurred, noisy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from AngioSegLib.cine import CalibrationSource
from AngioSegLib.errors import InputError
from AngioSegLib.qca.calibration import calibrate_from_catheter, measure_catheter


def render_catheter(diameter_px: float, angle_deg: float, size: int = 96, seed: int = 0,
                    background_slope: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(image, unit axis direction): a dark contrast-filled tube through the centre; pixel values
    fall with the chord through it, then detector blur (σ 0.7 px) and noise."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    a = np.deg2rad(angle_deg)
    axis = np.array([np.sin(a), np.cos(a)])
    centre = size / 2
    d = np.abs((rows - centre) * axis[1] - (cols - centre) * axis[0])
    chord = 2 * np.sqrt(np.clip((diameter_px / 2) ** 2 - d**2, 0, None))
    image = 3000.0 + background_slope * cols - 80.0 * chord
    image = ndimage.gaussian_filter(image, 0.7)
    image += np.random.default_rng(seed).normal(0.0, 15.0, image.shape)
    return image.astype(np.float32), axis


@pytest.mark.parametrize("angle", [0.0, 27.0, 45.0, 118.0])
@pytest.mark.parametrize("diameter_px", [7.0, 10.0, 13.0])
def test_catheter_width_along_and_across(angle, diameter_px):
    image, axis = render_catheter(diameter_px, angle, seed=int(angle + diameter_px))
    centre = np.array([48.0, 48.0])
    normal = np.array([-axis[1], axis[0]])
    # along: two clicks on the catheter, a little off its axis
    along = measure_catheter(image, tuple(centre - 12 * axis + 1.0 * normal),
                             tuple(centre + 12 * axis + 0.5 * normal))
    # across: a line from one side to the other, not quite perpendicular
    across = measure_catheter(image, tuple(centre - 14 * normal - 2 * axis),
                              tuple(centre + 14 * normal + 1 * axis))
    assert along.mode == "along" and across.mode == "across"
    for measurement in (along, across):
        assert measurement.diameter_px == pytest.approx(diameter_px, rel=0.04)
        assert abs(float(np.dot(measurement.direction_rc, axis))) > 0.99


def test_calibration_from_a_6f_catheter_on_a_sloped_background():
    mm_per_pixel = 0.2
    image, axis = render_catheter(2.0 / mm_per_pixel, 30.0, background_slope=8.0)
    centre = np.array([48.0, 48.0])
    calibration = calibrate_from_catheter(image, tuple(centre - 10 * axis),
                                          tuple(centre + 10 * axis), french=6)
    assert calibration.source is CalibrationSource.CATHETER
    assert calibration.mm_per_pixel == pytest.approx(mm_per_pixel, rel=0.04)
    assert calibration.unit == "mm"


def test_calibration_errors():
    image, axis = render_catheter(10.0, 0.0)
    with pytest.raises(InputError, match="px apart; place them at least 3 px apart"):
        calibrate_from_catheter(image, (48.0, 48.0), (48.5, 49.0), 6)
    with pytest.raises(InputError, match="is outside the 96×96 image"):
        calibrate_from_catheter(image, (48.0, 48.0), (48.0, 140.0), 6)
    with pytest.raises(InputError, match="catheter size must be between 2 and 12 F"):
        calibrate_from_catheter(image, (48.0, 30.0), (48.0, 60.0), 30)
    flat = np.random.default_rng(1).normal(3000.0, 15.0, (96, 96)).astype(np.float32)
    with pytest.raises(InputError, match="no catheter edge found near the points"):
        calibrate_from_catheter(flat, (48.0, 30.0), (48.0, 60.0), 6)
    with pytest.raises(InputError, match=r"needs one \(H, W\) frame"):
        measure_catheter(np.zeros((2, 8, 8)), (1.0, 1.0), (6.0, 6.0))
