"""`angioseg info`: the run's facts as text or JSON; bad inputs give one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli
from dicom_files import SHARED_XA, make_xa, needs_shared, phantom_frames


@pytest.fixture
def xa_file(tmp_path):
    return make_xa(
        tmp_path / "lca.dcm",
        phantom_frames(n_frames=6, bits=10),
        bits=10,
        FrameTime=50,
        ImagerPixelSpacing=[0.2, 0.2],
        DistanceSourceToDetector=1000,
        DistanceSourceToPatient=800,
        PositionerPrimaryAngle=30,
        PositionerSecondaryAngle=-20,
        RWavePointer=[2, 5],
    )


def test_info_json(xa_file, capsys):
    code, out, err = run_cli(["info", str(xa_file), "--json"], capsys)
    assert code == 0 and err == ""
    info = json.loads(out)
    assert (info["frames"], info["rows"], info["columns"], info["bits_stored"]) == (6, 48, 64, 10)
    assert info["frame_rate_hz"] == pytest.approx(20) and info["duration_s"] == pytest.approx(0.3)
    assert info["mm_per_pixel"] == pytest.approx(0.16)
    assert info["calibration_source"].startswith("ImagerPixelSpacing × DistanceSourceToPatient")
    assert info["view"]["label"] == "LAO 30° CAU 20°"
    assert info["r_wave_frames"] == [1, 4]
    assert info["transfer_syntax"] == "Explicit VR Little Endian"
    assert info["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.12.1" and info["warnings"] == []


def test_info_text(xa_file, capsys):
    code, out, _ = run_cli(["info", str(xa_file)], capsys)
    assert code == 0
    for expected in (
        "frames:          6",
        "64 × 48 pixels",
        "10 bits stored",
        "20.00 frames/s",
        "0.300 s",
        "0.1600 mm/pixel",
        "LAO 30° CAU 20°",
        "Explicit VR Little Endian",
        "R waves (0-based frames): 1, 4",
    ):
        assert expected in out
    assert "warning:" not in out


def test_info_text_shows_warnings(tmp_path, capsys):
    path = make_xa(tmp_path / "bare.dcm", phantom_frames(2, bits=8))
    code, out, _ = run_cli(["info", str(path)], capsys)
    assert code == 0 and "frame rate:      unknown" in out
    assert "warning: no pixel spacing in the file" in out
    assert "warning: no frame timing in the file" in out


def test_info_on_a_png_folder(tmp_path, capsys):
    import imageio.v3 as iio

    for t in range(3):
        iio.imwrite(tmp_path / f"{t}.png", np.full((8, 8), 10 * t, np.uint8))
    code, out, _ = run_cli(["info", str(tmp_path), "--json"], capsys)
    assert (
        code == 0 and json.loads(out)["frames"] == 3 and json.loads(out)["transfer_syntax"] is None
    )


def test_missing_path_is_one_line(tmp_path, capsys):
    code, out, err = run_cli(["info", str(tmp_path / "nope.dcm")], capsys)
    assert_one_line_error(code, err, "nope.dcm does not exist")
    assert out == ""


def test_not_dicom_is_one_line(tmp_path, capsys):
    path = tmp_path / "notes.dcm"
    path.write_text("hello")
    code, _, err = run_cli(["info", str(path), "--json"], capsys)
    assert_one_line_error(code, err, "is not a DICOM file")


def test_mixed_folder_is_one_line(tmp_path, capsys):
    make_xa(tmp_path / "a.dcm", phantom_frames(2, bits=8))
    make_xa(tmp_path / "b.dcm", phantom_frames(3, bits=8))
    code, _, err = run_cli(["info", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "holds 2 runs: 'a.dcm' (2 frames series 1); 'b.dcm'")


@needs_shared
def test_unsupported_jpeg_extended_is_one_line(capsys):
    path = SHARED_XA / "nema_wg04_xa1" / "JPLY__XA1_JPLY.dcm"
    code, _, err = run_cli(["info", str(path)], capsys)
    assert_one_line_error(code, err, "python-gdcm")
