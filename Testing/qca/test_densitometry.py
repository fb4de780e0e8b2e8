"""Densitometric MLD: rendered X-ray tubes (chord length, blur, noise) with known lumens."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qca_phantoms import main_segment, render_tube, straight_line

from AngioSegLib.phantom.render import MU_CONTRAST_PER_MM, detect, render_tubes
from AngioSegLib.qca.analysis import DEFAULT_OPTIONS, QcaOptions, list_stenoses, measure_segments
from AngioSegLib.qca.densitometry import (
    area_profile,
    attenuation_image,
    fit_densitometric_constant,
)

MM_PER_PIXEL = 0.3
REFERENCE_MM = 3.0
LENGTH_MM = 40.0
LESION_MM = 12.0


def lumen_radius_px(percent: float) -> tuple[np.ndarray, np.ndarray]:
    """(centerline points, radius px) of a straight tube with a raised-cosine narrowing of
    ``percent`` diameter stenosis, ``LESION_MM`` long, in its middle."""
    points = straight_line((0, 0), 20.0, LENGTH_MM / MM_PER_PIXEL, step=0.1)
    s = np.linspace(0.0, LENGTH_MM, len(points))
    x = np.clip((s - LENGTH_MM / 2) / LESION_MM, -0.5, 0.5)
    diameter = REFERENCE_MM * (1 - percent / 100 * 0.5 * (1 + np.cos(2 * np.pi * x)))
    return points, diameter / 2 / MM_PER_PIXEL


@cache
def xray(percent: float, blur_px: float = 0.7, photons: float | None = None,
         seed: int = 0) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """(log-display image: 4095 − 1000·line integral, shape, points) of the stenosed tube over a
    sloping background, as an XA system stores it (vessels dark)."""
    points, radius = lumen_radius_px(percent)
    size = int(LENGTH_MM / MM_PER_PIXEL) + 24
    points = points + size / 2
    chord_px, _ = render_tubes((size, size), [(points, radius, np.ones(len(points)))])
    rows = np.arange(size, dtype=np.float32)[:, None] / size
    line_integral = MU_CONTRAST_PER_MM * chord_px * MM_PER_PIXEL + 1.5 + 0.4 * rows
    intensity = detect(line_integral, blur_px, photons, np.random.default_rng(seed))
    return (4095.0 + 1000.0 * np.log(intensity)).astype(np.float32), (size, size), points


@cache
def segmentation(percent: float, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(mask, probability) of the tube with a ``percent`` narrowing, as in :func:`xray`."""
    points, radius = lumen_radius_px(percent)
    return render_tube(shape, points + shape[0] / 2, radius)


def stenosis(image, probability_percent: float, options: QcaOptions = DEFAULT_OPTIONS):
    """The most severe listed stenosis when the segmentation shows a ``probability_percent``
    narrowing at the same place (a segmentation that rounds the lesion off)."""
    mask, probability = segmentation(probability_percent, image.shape)
    segments = measure_segments(probability, mask, MM_PER_PIXEL, "mm", 0, options, image=image)
    found = list_stenoses(segments, options)
    assert found, "the lesion is listed"
    return found[0], main_segment(segments)


def test_densitometric_mld_reads_the_lumen_the_segmentation_widened():
    """Image of a 60 % lesion, segmentation showing 40 %: the segmentation's edges say 40; the
    image's borders and its contrast both say 60 (the contrast's MLD is the second MLD)."""
    image, _, _ = xray(60.0)
    on_probability, _ = stenosis(image, 40.0, QcaOptions(mld_method="edge",
                                                         border_method="probability"))
    edge, _ = stenosis(image, 40.0, QcaOptions(mld_method="edge"))
    dens, segment = stenosis(image, 40.0)
    assert on_probability.mld_method == "edge" and on_probability.percent_diameter_stenosis < 45
    assert on_probability.border_method == "probability" and edge.border_method == "image"
    # a 4 px lumen: the borders of its blurred image still read it a little wide
    assert edge.percent_diameter_stenosis == pytest.approx(60.0, abs=6.0)
    assert edge.densitometric_mld == pytest.approx(dens.mld, abs=1e-9)  # reported beside it
    assert dens.mld_method == "densitometric" == segment.mld_method
    assert dens.percent_diameter_stenosis == pytest.approx(60.0, abs=3.0)
    assert dens.mld == pytest.approx(0.4 * REFERENCE_MM, abs=0.08)
    assert dens.edge_mld == pytest.approx(edge.mld, abs=0.02)  # the borders', kept beside it
    assert dens.percent_area_stenosis == pytest.approx(
        100 * (1 - (dens.mld / dens.rvd) ** 2), abs=1e-6)
    assert np.isfinite(segment.densitometric_diameter).any()


def test_densitometric_mld_with_quantum_noise():
    """Noise as in the phantom (1500 photons per unattenuated pixel): within 6 points."""
    for seed in range(3):
        image, _, _ = xray(60.0, photons=1500.0, seed=seed)
        dens, _ = stenosis(image, 40.0)
        assert dens.percent_diameter_stenosis == pytest.approx(60.0, abs=6.0)


def test_detector_blur_moves_no_contrast():
    """From a sharp to a blurred detector the densitometric %DS barely moves; its MLD moves only
    as much as the image borders' reference its constant is fitted on."""
    sharp, _ = stenosis(xray(60.0, blur_px=0.4)[0], 40.0)
    blurred, _ = stenosis(xray(60.0, blur_px=1.0)[0], 40.0)
    assert blurred.percent_diameter_stenosis == pytest.approx(sharp.percent_diameter_stenosis,
                                                              abs=1.5)
    assert blurred.mld == pytest.approx(sharp.mld, abs=0.08)


@settings(max_examples=4, deadline=None)
@given(gain=st.floats(-3.0, 3.0).filter(lambda g: abs(g) > 0.2), offset=st.floats(-500, 500))
def test_display_gain_offset_and_polarity_do_not_matter(gain, offset):
    image, _, _ = xray(60.0)
    reference, _ = stenosis(image, 40.0)
    changed, _ = stenosis(gain * image + offset, 40.0)
    assert changed.mld == pytest.approx(reference.mld, rel=1e-3)


def test_values_proportional_to_intensity_are_logged_first():
    """A file that stores intensity ("LIN"): the log makes contrast additive again."""
    image, _, _ = xray(60.0)
    linear = np.exp((image - 4095.0) / 1000.0) * 4000.0  # back to transmitted intensity
    logged, _ = stenosis(attenuation_image(linear, "LIN"), 40.0)
    as_is, _ = stenosis(attenuation_image(linear, "DISP"), 40.0)
    assert logged.percent_diameter_stenosis == pytest.approx(60.0, abs=3.0)
    assert abs(as_is.percent_diameter_stenosis - 60.0) > abs(logged.percent_diameter_stenosis
                                                             - 60.0)


def test_no_contrast_in_the_image_keeps_the_edge_mld():
    """A flat image gives no densitometric constant: with the segmentation's borders the edge
    MLD stays, and says so; with the image's borders nothing is listed (no vessel in the image)."""
    image, _, _ = xray(60.0)
    options = QcaOptions(border_method="probability")
    edge, _ = stenosis(image, 40.0, QcaOptions(mld_method="edge", border_method="probability"))
    flat, segment = stenosis(np.full_like(image, 1000.0), 40.0, options)
    assert flat.mld_method == "edge" == segment.mld_method
    assert flat.mld == edge.mld
    mask, probability = segmentation(40.0, image.shape)
    flat_image = np.full_like(image, 1000.0)
    segments = measure_segments(probability, mask, MM_PER_PIXEL, "mm", 0, image=flat_image)
    assert list_stenoses(segments) == ()


def test_area_is_proportional_to_the_lumen_cross_section():
    """A / D² is the same for straight 1, 2 and 3 mm lumens (the basis of the method)."""
    size, length = 120, 100.0
    densities = []
    for diameter_mm in (1.0, 2.0, 3.0):
        points = straight_line((size / 2, size / 2), 30.0, length, step=0.5)
        radius_px = np.full(len(points), diameter_mm / 2 / MM_PER_PIXEL)
        chord_px, _ = render_tubes((size, size), [(points, radius_px, np.ones(len(points)))])
        line_integral = MU_CONTRAST_PER_MM * chord_px * MM_PER_PIXEL + 1.5
        image = 4095.0 + 1000.0 * np.log(detect(line_integral, 0.7, None, None))
        tangent = np.array([np.sin(np.deg2rad(30.0)), np.cos(np.deg2rad(30.0))])
        normals = np.tile([-tangent[1], tangent[0]], (len(points), 1))
        area = area_profile(image, points, normals, radius_px, radius_px, background_samples=20)
        inside = slice(len(points) // 4, -len(points) // 4)
        densities.append(np.median(area[inside]) / diameter_mm ** 2)
    np.testing.assert_allclose(densities, np.mean(densities), rtol=0.03)
    reference = np.full(20, 2.0)
    k = fit_densitometric_constant(densities[1] * reference ** 2, reference, np.ones(20, bool))
    assert k == pytest.approx(densities[1])


def test_no_background_left_gives_no_area():
    """Background bands that all fall on vessel pixels: no area, no densitometric constant."""
    image, _, points = xray(60.0)
    normals = np.tile([1.0, 0.0], (len(points), 1))
    radius = np.full(len(points), 5.0)
    area = area_profile(image, points, normals, radius, radius, background_samples=20,
                        vessel=np.ones(image.shape, np.uint8))
    assert np.isnan(area).all()
    assert fit_densitometric_constant(area, np.full(len(area), 3.0),
                                      np.ones(len(area), bool)) is None


def test_measure_segments_rejects_an_image_of_another_shape():
    image, shape, _ = xray(60.0)
    mask, probability = segmentation(40.0, shape)
    with pytest.raises(ValueError, match="image must match"):
        measure_segments(probability, mask, MM_PER_PIXEL, "mm", image=image[:-1])


def test_rounding_noise_is_not_contrast():
    """A flat image whose background sums differ from the vessel's by float rounding (either
    sign, any BLAS) is refused, no constant fitted on a 1e-13 "contrast" (the knife-edge that made
    the flat-image test fail on some machines)."""
    from AngioSegLib.qca.densitometry import depth_floor

    flat = np.full((50, 50), 1000.0, np.float32)
    assert depth_floor(flat) > 1e-3
    reference = np.full(20, 3.0)
    rounding = 1e-13 * (1 + 0.01 * np.random.default_rng(0).standard_normal(20))
    healthy = np.ones(20, bool)
    assert fit_densitometric_constant(rounding, reference, healthy) is not None  # no floor: fitted
    assert fit_densitometric_constant(rounding, reference, healthy,
                                      min_area=depth_floor(flat)) is None
