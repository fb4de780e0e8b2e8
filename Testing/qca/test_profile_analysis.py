"""One diameter profile (:mod:`AngioSegLib.qca.profile_analysis`): the reference follows the
taper, a lesion claims its zone, and a narrowing read twice is listed once."""

from __future__ import annotations

import numpy as np
import pytest

from AngioSegLib.qca.densitometric_mld import distinct_lesions
from AngioSegLib.qca.profile_analysis import (
    INTERPOLATED,
    POINT_ZONE_RVD,
    ZONE_MARGIN_RVD,
    ProfileAnalysis,
    analyze_lesions,
    analyze_profile,
    zone,
)


def test_a_narrowing_is_listed_once_when_two_lesions_read_it():
    """A later lesion whose MLD lies in an earlier one's zone (stretch ± half its RVD) goes."""
    distance = np.linspace(0.0, 40.0, 401)
    reference = np.full(len(distance), 3.0)

    def lesion(mld_at_mm, start, end):
        i = int(np.argmin(np.abs(distance - mld_at_mm)))
        return ProfileAnalysis(reference, 1.5, i, 3.0, start, end, INTERPOLATED)

    first = lesion(10.0, 8.0, 12.0)
    # 13 ≤ 12 + 1.5: in the first one's zone
    assert distinct_lesions((first, lesion(13.0, 12.5, 16.0)), distance) == (first,)
    later = lesion(20.0, 18.0, 22.0)
    assert distinct_lesions((first, later), distance) == (first, later)


def test_a_lesion_claims_its_stretch_or_a_point_zone():
    distance = np.linspace(0.0, 40.0, 401)
    reference = np.full(len(distance), 3.0)
    stretch = ProfileAnalysis(reference, 1.5, 100, 3.0, 8.0, 12.0, INTERPOLATED)
    assert zone(stretch, distance) == pytest.approx((8.0 - ZONE_MARGIN_RVD * 3.0,
                                                     12.0 + ZONE_MARGIN_RVD * 3.0))
    point = ProfileAnalysis(reference, 2.7, 100, 3.0, None, None, INTERPOLATED)
    assert zone(point, distance) == pytest.approx((10.0 - POINT_ZONE_RVD * 3.0,
                                                   10.0 + POINT_ZONE_RVD * 3.0))


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


def test_two_narrowings_of_one_profile_are_two_lesions_most_severe_first():
    s = np.linspace(0, 60, 601)
    d = 3.0 * (1 - 0.5 * np.exp(-0.5 * ((s - 15) / 1.2) ** 2)
               - 0.7 * np.exp(-0.5 * ((s - 42) / 1.2) ** 2))
    lesions = analyze_lesions(s, d, np.ones_like(s, bool))
    assert [round(x.percent_diameter_stenosis / 10) for x in lesions] == [7, 5]
    assert analyze_profile(s, d[:3], np.ones(3, bool)).mld is None  # too short to analyse


def test_a_flare_at_the_profile_end_does_not_hide_the_lesion():
    """A 35 % lesion mid-vessel and a bifurcation flare (6 mm) in the last millimetre: the
    lesion is found where it is (the flare does not pad the envelope at the end)."""
    s = np.linspace(0.0, 40.0, 401)
    d = 3.0 - 1.05 * np.exp(-0.5 * ((s - 15.0) / 1.0) ** 2)
    d[s > 38.0] = np.linspace(3.6, 6.0, int((s > 38.0).sum()))
    d[(s > 36.0) & (s <= 38.0)] = 2.9
    lesion = analyze_profile(s, d, np.ones(len(s), bool))
    assert s[lesion.mld_index] == pytest.approx(15.0, abs=0.2)
    assert lesion.percent_diameter_stenosis == pytest.approx(35.0, abs=3.0)


def test_a_broken_vessel_tip_does_not_hide_the_lesion():
    """A 2.5 mm vessel, 50 % lesion at 18 mm, tapering to 1.3 mm at 45 mm and ending in the
    broken tip a segmentation leaves (lumen lost at 46–48 and 50–51.5 mm around a 2 mm
    fragment, a blob at the very end): the tip is the narrowest against its envelope and is
    measured first, but its stretch ends where its reference was fitted, the tip's
    one-sided dead ends are passed over, and the lesion is found at its severity."""
    s = np.linspace(0.0, 54.0, 541)
    d = (2.5 - (1.2 / 45.0) * s) * (1 - 0.5 * np.exp(-0.5 * ((s - 18.0) / 1.0) ** 2))
    d[(s > 46.0) & (s <= 48.0)] = 0.1
    d[(s > 48.0) & (s <= 50.0)] = 1.9
    d[(s > 50.0) & (s <= 51.5)] = 0.1
    d[s > 51.5] = 2.2
    lesions = analyze_lesions(s, d, np.ones(len(s), bool))
    at = [float(s[lesion.mld_index]) for lesion in lesions]
    assert at[0] > 45.0  # the tip first
    mid = [lesion for lesion, where in zip(lesions, at, strict=True) if abs(where - 18.0) < 1.0]
    assert mid and mid[0].percent_diameter_stenosis == pytest.approx(50.0, abs=5.0)
    assert mid[0].reference_method is INTERPOLATED
