"""`angioseg segment` / `demo`: bad inputs give one line and exit 2; outputs are all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli
from dicom_files import CT, SHARED_XA, make_xa, needs_shared, phantom_frames


@pytest.fixture(scope="module")
def phantom_dicom(tmp_path_factory) -> Path:
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=3, n_frames=6, size=128))
    return write_xa(run.cine, tmp_path_factory.mktemp("xa") / "run.dcm")


def test_missing_input_is_one_line(tmp_path, capsys):
    args = ["segment", str(tmp_path / "nope.dcm"), "-o", str(tmp_path / "o")]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "nope.dcm")
    assert not (tmp_path / "o").exists()


def test_non_dicom_input_is_one_line(tmp_path, capsys):
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file")
    code, _, err = run_cli(["segment", str(text), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "DICOM")
    assert not (tmp_path / "o").exists()


def test_truncated_dicom_is_one_line(tmp_path, capsys, phantom_dicom):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(phantom_dicom.read_bytes()[: phantom_dicom.stat().st_size // 2])
    code, _, err = run_cli(["segment", str(cut), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "")
    assert not (tmp_path / "o").exists()


def test_non_empty_output_is_refused_and_untouched(tmp_path, capsys, phantom_dicom):
    out = tmp_path / "o"
    out.mkdir()
    keep = out / "keep.txt"
    keep.write_text("mine")
    code, _, err = run_cli(["segment", str(phantom_dicom), "-o", str(out)], capsys)
    assert_one_line_error(code, err, "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert keep.read_text() == "mine"


def test_bad_option_value_is_one_line(tmp_path, capsys, phantom_dicom):
    code, _, err = run_cli(
        ["segment", str(phantom_dicom), "-o", str(tmp_path / "o"), "--threshold", "1.5"], capsys
    )
    assert_one_line_error(code, err, "threshold")
    assert not (tmp_path / "o").exists()
    code, _, err = run_cli(
        ["segment", str(phantom_dicom), "-o", str(tmp_path / "o"), "--mld-method", "video"], capsys
    )
    assert_one_line_error(code, err, "MLD method 'video': choose one of densitometric, edge")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_segment_writes_every_output(tmp_path, capsys, phantom_dicom):
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        ["segment", str(phantom_dicom), "-o", str(out), "--device", "cpu", "--json"], capsys
    )
    assert code == 0
    summary = json.loads(stdout)
    names = {p.name for p in out.iterdir()}
    expected = {"segmentation.dcm", "labels.seq.nrrd", "labels.nii.gz", "overlay.mp4",
                "report.html", "qca.json", "qca.csv", "frames.csv"}
    assert expected <= names
    assert summary["frames"] == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging left behind"


def test_non_angiographic_dicom_is_one_line(tmp_path, capsys):
    ct = make_xa(tmp_path / "ct.dcm", phantom_frames(n_frames=1), sop_class=CT, Modality="CT")
    code, _, err = run_cli(["segment", str(ct), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "CT")
    assert not (tmp_path / "o").exists()


def test_empty_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["segment", str(tmp_path / "empty"), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "empty")
    assert not (tmp_path / "o").exists()


@needs_shared
def test_undecodable_transfer_syntax_is_one_line(tmp_path, capsys):
    jply = SHARED_XA / "nema_wg04_xa1" / "JPLY__XA1_JPLY.dcm"
    code, _, err = run_cli(["segment", str(jply), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "JPEG Extended")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--temporal-k", "abc"], "Invalid value for '--temporal-k': Input should be a valid int"),
        (["--bogus"], "No such option: --bogus (see 'angioseg segment --help')"),
        (["--forc"], "No such option: --forc (Possible options: --force, --store)"),
    ],
    ids=["bad-int", "unknown-option", "mistyped-option"],
)
def test_usage_errors_are_one_line(tmp_path, capsys, extra, match):
    code, out, err = run_cli(["segment", "run.dcm", "-o", str(tmp_path / "o"), *extra], capsys)
    assert_one_line_error(code, err, match)
    assert out == "" and "╭" not in err
    assert not (tmp_path / "o").exists()


def test_missing_output_and_unknown_command_are_one_line(capsys):
    code, _, err = run_cli(["segment", "run.dcm"], capsys)
    assert_one_line_error(
        code, err, "Missing option '-o' / '--output' (see 'angioseg segment --help')"
    )
    code, _, err = run_cli(["segmnet"], capsys)
    assert_one_line_error(
        code, err, "No such command 'segmnet'. Did you mean 'segment'? (see 'angioseg --help')"
    )


def test_help_and_version_still_exit_0(capsys):
    code, out, err = run_cli(["segment", "--help"], capsys)
    assert code == 0 and "--output" in out and "error" not in err
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("angioseg ")


def test_main_puts_the_signal_handlers_back(tmp_path, capsys):
    import signal

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    run_cli(["segment", str(tmp_path / "nope.dcm"), "-o", str(tmp_path / "o")], capsys)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_an_interrupt_is_one_line_and_leaves_no_lock(tmp_path, capsys, monkeypatch):
    def interrupted(_path):
        raise KeyboardInterrupt

    monkeypatch.setattr("AngioSegLib.io.read_cine", interrupted)
    code, _, err = run_cli(["segment", "run.dcm", "-o", str(tmp_path / "o")], capsys)
    assert code == 130
    assert err.strip() == "angioseg: error: stopped by SIGINT; unfinished outputs were removed"
    assert list(tmp_path.iterdir()) == []
