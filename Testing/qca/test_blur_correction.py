"""The imaging blur fitted on a vessel (:mod:`AngioSegLib.qca.lumen_model`) and the border
detector's blur bias undone with it (:mod:`AngioSegLib.qca.blur_correction`)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from AngioSegLib.qca.blur_correction import correct_diameters, detector_curve
from AngioSegLib.qca.lumen_edges import SAMPLE_STEP_PX, detect_lumen_borders
from AngioSegLib.qca.lumen_model import (
    MAX_FIT_RMS,
    LumenFit,
    blurred_chord,
    fit_blur,
    frame_blur_px,
)

SIZE = (96, 200)
ROW = 48.3  # the vessel's axis (off the pixel grid)


def profiles_of(radius_px: float, sigma_px: float, rows: int = 40, noise: float = 0.0,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, profiles) of a straight round lumen under model (1): background 10, slope
    0.01 per px, contrast 0.05 per px of chord."""
    offsets = np.arange(-80, 81) * SAMPLE_STEP_PX
    row = 10.0 + 0.01 * offsets - 0.05 * blurred_chord(offsets, radius_px, sigma_px)
    rng = np.random.default_rng(seed)
    return offsets, row[None, :] + noise * rng.standard_normal((rows, len(offsets)))


def vessel_frame(lesion_diameter_px: float, blur_px: float, healthy_diameter_px: float = 12.0):
    """Log image (vessel dark) of a straight vessel along the columns with a 30 px stretch of
    ``lesion_diameter_px`` in its middle; pixels integrate a 4 × 4 supersampled projection,
    then a Gaussian blur of ``blur_px``."""
    ss = 4
    y = (np.arange(SIZE[0] * ss) + 0.5) / ss - 0.5
    radius = np.full(SIZE[1], healthy_diameter_px / 2)
    radius[85:115] = lesion_diameter_px / 2
    chord = 2 * np.sqrt(np.clip(radius[None, :] ** 2 - (y[:, None] - ROW) ** 2, 0, None))
    intensity = np.exp(-0.05 * chord).reshape(SIZE[0], ss, SIZE[1]).mean(axis=1)
    noise = np.random.default_rng(1).normal(0.0, 0.002, SIZE)
    return np.log(ndimage.gaussian_filter(intensity, blur_px) + noise), radius


@pytest.mark.parametrize("sigma_px", [0.5, 1.0, 1.5])
def test_the_fit_recovers_blur_and_radius(sigma_px):
    offsets, profiles = profiles_of(6.0, sigma_px, noise=0.002)
    half = np.full(len(profiles), 6.0)
    fit = fit_blur(profiles, offsets, half, half, np.ones(len(profiles), bool))
    assert fit is not None
    assert fit.sigma_px == pytest.approx(sigma_px, abs=0.1)
    assert fit.radius_px == pytest.approx(6.0, abs=0.2)
    assert fit.rms < 0.05


def test_no_fit_on_too_few_rows_with_a_lumen():
    offsets, profiles = profiles_of(6.0, 1.0)
    half = np.full(len(profiles), 6.0)
    lumen = np.zeros(len(profiles), bool)
    lumen[:3] = True
    assert fit_blur(profiles, offsets, half, half, lumen) is None


def test_the_detector_reads_narrow_lumens_wide_and_wide_ones_true():
    """Its response curve at σ 1 px: a 2 px lumen reads over 3 px, 10–20 px lumens within 0.5 px;
    the curve never falls as the lumen widens."""
    true_d, read_d = detector_curve(1.0, 8.0)
    assert read_d[np.argmin(np.abs(true_d - 2.0))] > 3.0
    wide = (true_d >= 10.0) & (true_d <= 20.0)
    assert np.abs(read_d[wide] - true_d[wide]).max() < 0.5
    assert (np.diff(read_d) > -0.05).all()


@pytest.mark.parametrize(("lesion_px", "blur_px"), [(3.0, 0.8), (4.0, 0.8), (3.0, 1.2)])
def test_a_narrow_lumen_reads_true_after_the_correction(lesion_px, blur_px):
    """A 3–4 px lumen under 0.8–1.2 px of blur reads 0.5–1.3 px too wide between its borders;
    corrected with the blur fitted on the vessel itself, within 0.35 px (the healthy 12 px
    stretch within 0.3 px)."""
    image, radius = vessel_frame(lesion_px, blur_px)
    cols = np.linspace(40.0, 160.0, 121)
    points = np.stack([np.full(len(cols), ROW), cols], axis=1)
    normals = np.tile([1.0, 0.0], (len(cols), 1))
    borders = detect_lumen_borders(image, points, normals, np.interp(cols, np.arange(SIZE[1]),
                                                                     radius))
    assert borders.fit is not None
    read = borders.left_px + borders.right_px
    corrected = correct_diameters(read, frame_blur_px([borders.fit]), borders.fit.radius_px)
    lesion = (cols > 92) & (cols < 108)
    healthy = (cols < 70) | (cols > 130)
    assert np.median(read[lesion]) - lesion_px > 0.4
    assert np.median(corrected[lesion]) == pytest.approx(lesion_px, abs=0.35)
    assert np.median(corrected[healthy]) == pytest.approx(12.0, abs=0.3)


def test_the_correction_keeps_no_lumen_and_unmeasured():
    out = correct_diameters(np.array([0.0, np.nan, 3.5, 12.0]), 1.0, 6.0)
    assert out[0] == 0.0 and np.isnan(out[1])
    assert out[2] < 3.0  # a 3.5 px reading under 1 px of blur is a narrower lumen
    assert out[3] == pytest.approx(12.0, abs=0.5)  # a wide lumen reads about true


def test_the_frame_blur_is_the_median_of_the_good_fits():
    """A poor fit and a fit whose lumen is narrower than two of its σ (a small vessel, where blur
    and radius trade off: on a real angiogram one such 2 px twig read σ 2.2 px, four times the
    long vessels' blur, and the correction turned their 5.5 px border readings into 95 %DS)
    are left out."""
    good = [LumenFit(0.8, 5.0, 0.01), LumenFit(0.9, 4.0, 0.02), LumenFit(1.0, 3.0, 0.03)]
    bad = LumenFit(2.4, 10.0, 2 * MAX_FIT_RMS)  # a bifurcation read as blur
    twig = LumenFit(2.2, 1.9, 0.03)
    assert frame_blur_px([*good, bad, twig, None]) == pytest.approx(0.9)
    assert frame_blur_px([bad, twig, None]) is None
