"""QCA options (:mod:`AngioSegLib.qca.options`) are checked where they are made."""

from __future__ import annotations

import pytest

from AngioSegLib.errors import InputError
from AngioSegLib.qca.options import QcaOptions


def test_options_are_checked():
    with pytest.raises(InputError,
                       match="unknown diameter method 'fwhm': choose one of integral, iso"):
        QcaOptions(diameter_method="fwhm")
    with pytest.raises(InputError, match="lesion_threshold must be between 0 and 1"):
        QcaOptions(lesion_threshold=1.5)
    with pytest.raises(InputError, match="max_lesions must be 1 or more"):
        QcaOptions(max_lesions=0)
    with pytest.raises(InputError,
                       match="unknown MLD method 'video': choose one of densitometric, edge"):
        QcaOptions(mld_method="video")
    with pytest.raises(InputError, match="uncalibrated_mm_per_pixel must be more than 0"):
        QcaOptions(uncalibrated_mm_per_pixel=0.0)
    with pytest.raises(InputError, match="lengths and factors must be 0 or more"):
        QcaOptions(min_rvd_mm=-1.0)


def test_every_length_is_taken_in_pixels_on_an_uncalibrated_run():
    """At 0.25 mm per pixel the 1.2 mm RVD floor is 4.8 px, the 12 mm gap 48 px."""
    px = QcaOptions(uncalibrated_mm_per_pixel=0.25).in_pixels()
    assert px.min_rvd_mm == pytest.approx(4.8) and px.max_gap_mm == pytest.approx(48.0)
    assert px.min_branch_mm == pytest.approx(4.0)


def test_qca_points_option_is_parsed():
    from AngioSegLib.cli.segment import _parse_qca_points

    assert _parse_qca_points("10,20 30.5,40") == ((10.0, 20.0), (30.5, 40.0))
    assert _parse_qca_points("10,20,30,40") == ((10.0, 20.0), (30.0, 40.0))
    assert _parse_qca_points(None) is None
    with pytest.raises(InputError, match="--qca-points needs two pixels"):
        _parse_qca_points("10,20")
