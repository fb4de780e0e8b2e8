"""The second QCA phantom set: deterministic cases whose truth matches what is rendered."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from AngioSegLib.phantom.qca_suite import NETWORK_WIDENING_MM, draw_case, render_case


def test_cases_are_deterministic_and_varied():
    assert draw_case(3) == draw_case(3)
    cases = [draw_case(seed) for seed in range(40)]
    assert {c.file_type for c in cases} == {"LOG", "LIN", "DISP"}
    assert any(c.percent >= 100 for c in cases) and any(c.crossing for c in cases)
    assert all(0.15 <= c.mm_per_pixel <= 0.3 and 1.5 <= c.reference_mm <= 4.5 for c in cases)


@pytest.mark.parametrize("file_type", ["LOG", "LIN", "DISP"])
def test_a_rendered_case_carries_its_truth(file_type):
    options = replace(draw_case(0, size=160), file_type=file_type, bits=10, percent=60.0,
                      shape="concentric", crossing=False, second_vessel=False)
    case = render_case(options)
    assert case.frame.dtype == np.uint16 and case.frame.max() <= 2**10 - 1
    assert case.pixel_intensity_relationship == {"LOG": "LOG", "LIN": "LIN", "DISP": None}[
        file_type]
    assert case.percent_diameter == pytest.approx(60.0, abs=0.5)
    assert case.mld_mm == pytest.approx(0.4 * case.rvd_mm, rel=0.02)
    # the simulated network is wider than the truth by about NETWORK_WIDENING_MM
    extra_px = (case.mask.sum() - case.true_mask.sum()) / max(
        float(ndimage.distance_transform_edt(case.true_mask).max()), 1.0)
    assert extra_px > 0
    widened = case.mask.sum() / case.true_mask.sum()
    assert 1.0 < widened < 1.0 + 3 * NETWORK_WIDENING_MM / options.reference_mm


def test_an_occlusion_breaks_the_network_mask():
    options = replace(draw_case(1, size=160), percent=100.0, shape="plateau", crossing=False,
                      second_vessel=False)
    case = render_case(options)
    assert case.mld_mm == 0.0 and case.percent_diameter == 100.0
    assert ndimage.label(case.mask)[1] == 2
