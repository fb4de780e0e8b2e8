"""`angioseg segment -o OUT` promises: a stopped run leaves nothing, one run at a time per folder,
--force replaces the folder as a whole, and the folder is checked before any work.

The signal and lock tests run the real command in child processes on a 4-frame 128² phantom.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tifffile
from cli_helpers import assert_one_line_error, run_cli

from AngioSegLib.outputs.writers import OUTPUT_NAMES, estimate_output_bytes

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and flock are POSIX")

SHAPE = (4, 128, 128)
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    """A small phantom XA file (DICOM: the outputs include a SEG)."""
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=1, n_frames=SHAPE[0], size=SHAPE[1]))
    return write_xa(run.cine, tmp_path_factory.mktemp("xa") / "run.dcm")


@pytest.fixture(scope="module")
def tiff_stack(tmp_path_factory) -> Path:
    """The same kind of run as a TIFF stack: not DICOM, so its outputs hold no SEG."""
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=1, n_frames=SHAPE[0], size=SHAPE[1]))
    path = tmp_path_factory.mktemp("tiff") / "run.tif"
    tifffile.imwrite(path, run.cine.frames, photometric="minisblack")
    return path


def start_segment(run: Path, out: Path, *extra: str) -> subprocess.Popen:
    """`angioseg segment RUN -o OUT --device cpu --json` in a child process (no progress bar)."""
    return subprocess.Popen(
        [sys.executable, "-m", "AngioSegLib", "segment", str(run), "-o", str(out),
         "--device", "cpu", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_for(condition, process: subprocess.Popen, what: str) -> None:
    """Poll ``condition()`` every 2 ms until it holds; fail if the process ends first."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"angioseg ended (exit {process.returncode}) before {what}:\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} after {TIMEOUT_S} s")
        time.sleep(0.002)


def hidden_beside(out: Path) -> list[str]:
    """Staging folders, old folders and lock files of OUT (``.<name>.*``) in its parent."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def staging_folders(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p.is_dir()]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_in_the_write_stage_leaves_no_staging_and_no_output(tmp_path, run_file, number):
    """The signal lands while the staging folder is being written. On a loaded machine the run
    can finish before the signal arrives: then it is tried again (three times at most)."""
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        process = start_segment(run_file, out)
        wait_for(lambda out=out: staging_folders(out), process, "the staging folder appeared")
        process.send_signal(number)
        _, err = process.communicate(timeout=TIMEOUT_S)
        if process.returncode != 0:
            break
    assert process.returncode == 128 + number, err
    assert error_lines(err) == [
        f"angioseg: error: stopped by {signal.Signals(number).name}; unfinished outputs were "
        "removed"
    ]
    assert not out.exists()
    assert hidden_beside(out) == [], "staging folder or lock left behind"


def test_a_second_run_into_the_same_folder_fails_at_once(tmp_path, run_file):
    out = tmp_path / "out"
    first = start_segment(run_file, out)
    wait_for((tmp_path / ".out.lock").exists, first, "the first run took the lock")
    started = time.monotonic()
    second = subprocess.run(
        [sys.executable, "-m", "AngioSegLib", "segment", str(run_file), "-o", str(out)],
        capture_output=True, text=True, timeout=TIMEOUT_S,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    waited_s = time.monotonic() - started
    first_still_running = first.poll() is None
    stdout, err = first.communicate(timeout=TIMEOUT_S)
    busy = f"another angioseg run is writing {out}; wait for it to finish or choose another"
    assert_one_line_error(second.returncode, second.stderr, busy)
    assert first_still_running, f"the second run took {waited_s:.1f} s: it waited for the first"
    assert first.returncode == 0, err
    summary = json.loads(stdout)
    assert sorted(summary["files"]) == sorted(p.name for p in out.iterdir())
    assert "segmentation.dcm" in summary["files"]
    assert set(summary["files"]) <= OUTPUT_NAMES  # so that --force may replace this folder
    assert hidden_beside(out) == [], "lock file or staging left behind"


def test_force_replaces_the_folder_as_a_whole(tmp_path, capsys, tiff_stack):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("segmentation.dcm", "report.html", "qca.json"):
        (out / name).write_text("from an earlier run")
    old_inode = out.stat().st_ino
    code, stdout, err = run_cli(
        ["segment", str(tiff_stack), "-o", str(out), "--device", "cpu", "--json", "--force"], capsys
    )
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert "segmentation.dcm" not in names, "a SEG of the earlier run was left beside new outputs"
    assert names == sorted(json.loads(stdout)["files"])
    assert (out / "report.html").read_text(encoding="utf-8") != "from an earlier run"
    assert out.stat().st_ino != old_inode  # a new folder, renamed into place
    assert hidden_beside(out) == []


def test_force_refuses_a_folder_with_files_angioseg_did_not_write(tmp_path, capsys, run_file):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("from an earlier run")
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(["segment", str(run_file), "-o", str(out), "--force"], capsys)
    assert_one_line_error(code, err, "holds files angioseg does not write (notes.txt); --force "
                          "replaces the whole folder")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.html"]


def test_force_refuses_an_output_folder_that_holds_the_input(tmp_path, capsys, run_file):
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "phantom_xa.dcm"
    inside.write_bytes(run_file.read_bytes())
    code, _, err = run_cli(["segment", str(inside), "-o", str(out), "--force"], capsys)
    assert_one_line_error(code, err, f"the input {inside} is inside the output folder {out}")
    assert inside.read_bytes() == run_file.read_bytes()


@pytest.fixture
def no_pipeline(monkeypatch):
    """Make any segmenting fail the test: the checks must come before it."""

    def run(*_, **__):
        pytest.fail("the pipeline ran before the output folder was checked")

    monkeypatch.setattr("AngioSegLib.pipeline.run", run)


def check_fails_before_work(args: list[str], capsys, match: str) -> None:
    started = time.monotonic()
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, match)
    assert time.monotonic() - started < 5.0


def test_an_output_inside_a_file_fails_before_segmenting(tmp_path, capsys, run_file, no_pipeline):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    check_fails_before_work(["segment", str(run_file), "-o", str(blocker / "out")], capsys,
                            f"{blocker} is a file, not a folder: no output can go inside it")


def test_a_missing_parent_fails_before_segmenting(tmp_path, capsys, run_file, no_pipeline):
    check_fails_before_work(["segment", str(run_file), "-o", str(tmp_path / "no" / "out")], capsys,
                            f"the folder {tmp_path / 'no'} does not exist; create it first")


def test_an_existing_output_fails_before_segmenting(tmp_path, capsys, run_file, no_pipeline):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.html").write_text("earlier")
    check_fails_before_work(["segment", str(run_file), "-o", str(tmp_path / "out")], capsys,
                            "is not empty; choose another or pass --force to overwrite")


def test_a_read_only_parent_fails_before_segmenting(tmp_path, capsys, run_file, no_pipeline):
    parent = tmp_path / "read_only"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("this user may write a 0o555 folder (root); see the read-only tmpfs test")
        check_fails_before_work(["segment", str(run_file), "-o", str(parent / "out")], capsys,
                                f"the folder {parent} is not writable")
    finally:
        parent.chmod(0o755)
    assert list(parent.iterdir()) == []


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mount a small tmpfs with the given options (root only; skips where mount is refused)."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def test_a_read_only_disk_fails_before_segmenting(capsys, run_file, no_pipeline, mount_tmpfs):
    point = mount_tmpfs("ro,size=1m")
    check_fails_before_work(["segment", str(run_file), "-o", str(point / "out")], capsys,
                            f"the folder {point} is not writable")


def test_a_full_disk_fails_before_segmenting(capsys, run_file, no_pipeline, mount_tmpfs):
    point = mount_tmpfs("size=1m")
    assert estimate_output_bytes(SHAPE) > 1024 * 1024  # the run's outputs do not fit
    check_fails_before_work(["segment", str(run_file), "-o", str(point / "out")], capsys,
                            f"not enough free space for the outputs in {point}: about 1.3 MB "
                            "needed, 1.0 MB free")
    assert list(point.iterdir()) == []  # no lock file, no staging left
