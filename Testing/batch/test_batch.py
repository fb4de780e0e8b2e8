"""`angioseg batch`: a folder of phantom runs with a corrupt file and a duplicate, resume, stop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli

SIZE_PX = 96
FRAMES = 4


def write_phantom_run(path: Path, seed: int) -> Path:
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    path.parent.mkdir(parents=True, exist_ok=True)
    run = make_phantom(PhantomOptions(seed=seed, n_frames=FRAMES, size=SIZE_PX))
    return write_xa(run.cine, path)


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    """Three good runs (one in a subfolder), a copy of one (duplicate), a truncated run,
    and a text file; do not modify it."""
    root = tmp_path_factory.mktemp("runs") / "study"
    for seed, name in ((1, "a.dcm"), (2, "b.dcm"), (3, "sub/c.dcm")):
        write_phantom_run(root / name, seed)
    shutil.copyfile(root / "a.dcm", root / "sub" / "copy_of_a.dcm")
    corrupt = write_phantom_run(root / "corrupt.dcm", 4)
    corrupt.write_bytes(corrupt.read_bytes()[:4000])  # ends inside its pixel data
    (root / "notes.txt").write_text("not a run")
    return root


def _reader_error(path: Path) -> str:
    """What `angioseg segment` says of ``path``: the reason a batch records for it."""
    from AngioSegLib.errors import InputError
    from AngioSegLib.io import read_cine

    with pytest.raises(InputError) as error:
        read_cine(path)
    return str(error.value)


def _rows_by_input(out: Path) -> dict[str, dict]:
    from AngioSegLib.batch.summary import read_summary

    return {Path(row["input"]).name: row for row in read_summary(out)}


@pytest.mark.slow
def test_batch_records_each_run_and_resume_skips_finished_ones(tmp_path, capsys, runs_folder):
    from AngioSegLib.batch.task import COMPLETION_MARKER

    out = tmp_path / "out"
    args = ["batch", str(runs_folder), "-o", str(out), "--device", "cpu", "--no-video",
            "--quiet"]
    code, _, err = run_cli(args, capsys)
    assert code == 1, err  # one run failed
    assert "Traceback" not in err
    rows = _rows_by_input(out)
    assert set(rows) == {"a.dcm", "b.dcm", "c.dcm", "copy_of_a.dcm", "corrupt.dcm"}
    for name in ("a.dcm", "b.dcm", "c.dcm"):
        row = rows[name]
        assert row["status"] == "ok" and row["reason"] == ""
        assert row["frames"] == str(FRAMES) and row["rows"] == str(SIZE_PX)
        assert row["model"].startswith("cenet") and row["calibration"]
        assert row["stenoses"] != "" and float(row["total_s"]) > 0
        folder = out / row["output"]
        assert folder.name == row["key"] and (folder / COMPLETION_MARKER).is_file()
        assert {"qca.json", "labels.nii.gz", "report.html"} <= {p.name for p in folder.iterdir()}
    assert rows["corrupt.dcm"]["status"] == "failed"
    assert rows["corrupt.dcm"]["reason"] == _reader_error(runs_folder / "corrupt.dcm")
    assert rows["copy_of_a.dcm"]["status"] == "skipped"
    assert rows["copy_of_a.dcm"]["reason"].startswith(f"duplicate of {runs_folder / 'a.dcm'}")
    assert "corrupt.dcm" in err and "3 ok, 1 failed, 1 skipped" in " ".join(err.split())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["batch"]["statuses"] == {"ok": 3, "failed": 1, "skipped": 1}
    stenoses = (out / "stenoses.csv").read_text().splitlines()
    assert stenoses[0].startswith("key,")
    assert len(stenoses) - 1 == sum(int(rows[n]["stenoses"]) for n in ("a.dcm", "b.dcm",
                                                                      "c.dcm"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging or lock left"

    # Without --resume or --force the folder of a batch is refused, untouched.
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "pass --resume to skip the runs already done")

    # --resume: finished runs are skipped with their earlier measures; a run whose folder lost
    # its marker (a batch killed between its outputs and its marker) is done again.
    done_b = out / rows["b.dcm"]["output"]
    (done_b / COMPLETION_MARKER).unlink()
    kept_a = out / rows["a.dcm"]["output"] / "qca.json"
    before = kept_a.stat().st_mtime_ns
    code, _, err = run_cli([*args, "--resume"], capsys)
    assert code == 1, err
    again = _rows_by_input(out)
    assert again["a.dcm"]["status"] == "skipped"
    assert again["a.dcm"]["reason"] == "outputs complete from an earlier batch (--resume)"
    assert again["a.dcm"]["stenoses"] == rows["a.dcm"]["stenoses"]
    assert kept_a.stat().st_mtime_ns == before
    assert again["b.dcm"]["status"] == "ok" and (done_b / COMPLETION_MARKER).is_file()
    assert again["corrupt.dcm"]["status"] == "failed"
    assert again["copy_of_a.dcm"]["status"] == "skipped"


@pytest.mark.slow
def test_a_stopped_batch_writes_its_summary(tmp_path, runs_folder):
    from AngioSegLib.batch import BatchOptions, run_batch
    from AngioSegLib.batch.summary import read_summary
    from AngioSegLib.outputs.writers import OutputOptions
    from AngioSegLib.pipeline import PipelineOptions
    from AngioSegLib.segment.options import InferenceOptions

    def stop_after_first(event):
        if event.done >= 1:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    options = BatchOptions(output=out,
                           pipeline=PipelineOptions(inference=InferenceOptions(device="cpu")),
                           outputs=OutputOptions(video=False, report=False))
    with pytest.raises(KeyboardInterrupt):
        run_batch([runs_folder / "a.dcm", runs_folder / "b.dcm"], options, stop_after_first)
    rows = read_summary(out)
    assert [row["status"] for row in rows] == ["ok", "skipped"]
    assert rows[1]["reason"].startswith("not run: the batch stopped before it")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_manifest_names_runs_and_bad_rows_are_one_line(tmp_path, runs_folder):
    from AngioSegLib.batch.inputs import find_runs
    from AngioSegLib.errors import InputError

    manifest = tmp_path / "runs.csv"
    manifest.write_text(f"path,name\n{runs_folder / 'a.dcm'},patient 01/visit 1\n"
                        f"{runs_folder / 'sub'}\n")
    found = find_runs([manifest])
    assert [spec.key for spec in found.runs][0] == "patient_01_visit_1"
    assert {Path(spec.label).name for spec in found.runs} == {"a.dcm", "c.dcm"}
    assert [Path(d.spec.label).name for d in found.duplicates] == ["copy_of_a.dcm"]

    manifest.write_text(f"path,name,catheter_french\n{runs_folder / 'sub'},x,6\n")
    with pytest.raises(InputError, match="catheter calibration needs both catheter_french and "
                                         "catheter_points"):
        find_runs([manifest])
    manifest.write_text(f"path,name\n{runs_folder / 'sub'},x\n")
    with pytest.raises(InputError, match=r"holds 2 runs; give one run's file per row"):
        find_runs([manifest])
    manifest.write_text("path,colour\nx.dcm,red\n")
    with pytest.raises(InputError, match="unknown columns colour"):
        find_runs([manifest])


def test_discovery_keys_are_series_uids_and_stable(runs_folder):
    from pydicom import dcmread

    from AngioSegLib.batch.inputs import find_runs

    first = find_runs([runs_folder])
    assert first == find_runs([runs_folder])
    by_name = {Path(spec.label).name: spec for spec in first.runs}
    uid = str(dcmread(runs_folder / "b.dcm", stop_before_pixels=True).SeriesInstanceUID)
    assert by_name["b.dcm"].key == uid
    assert "notes.txt" not in by_name


def test_batch_input_errors_are_one_line(tmp_path, capsys, runs_folder):
    code, _, err = run_cli(["batch", str(tmp_path / "nope"), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "does not exist")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["batch", str(tmp_path / "empty"), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "no X-ray angiography runs found")
    code, _, err = run_cli(["batch", str(runs_folder), "-o", str(tmp_path / "o"), "--resume",
                            "--force"], capsys)
    assert_one_line_error(code, err, "choose one")
    code, _, err = run_cli(["batch", str(runs_folder), "-o", str(tmp_path / "o"),
                            "--workers", "64"], capsys)
    assert_one_line_error(code, err, "CPU cores")


def test_series_in_one_folder_and_a_dicomdir_are_separate_runs(tmp_path):
    import numpy as np
    import pydicom
    from dicom_files import make_xa, phantom_frames
    from pydicom.fileset import FileSet

    from AngioSegLib.batch.inputs import find_runs
    from AngioSegLib.batch.task import read_run

    folder = tmp_path / "mixed"
    folder.mkdir()
    series = {"1.2.826.0.1.3680043.8.498.71": 1, "1.2.826.0.1.3680043.8.498.72": 2}
    for uid, seed in series.items():
        frames = phantom_frames(n_frames=3, bits=8, seed=seed)
        for i in range(3):
            make_xa(folder / f"s{seed}_{i}.dcm", frames[i:i + 1], multiframe=False,
                    series_uid=uid, instance_number=i + 1)
    found = find_runs([folder])
    assert sorted(spec.key for spec in found.runs) == sorted(series)
    for spec in found.runs:
        assert len(spec.files) == 3
        frames = phantom_frames(n_frames=3, bits=8, seed=series[spec.key])
        np.testing.assert_array_equal(read_run(spec).to_array(), frames)

    fileset = FileSet()
    for seed in (5, 6):
        path = make_xa(tmp_path / f"m{seed}.dcm", phantom_frames(n_frames=2, bits=8, seed=seed),
                       series_uid=f"1.2.826.0.1.3680043.8.498.8{seed}")
        fileset.add(pydicom.dcmread(path))
    fileset.write(tmp_path / "media")
    found = find_runs([tmp_path / "media" / "DICOMDIR"])
    assert sorted(spec.key for spec in found.runs) == ["1.2.826.0.1.3680043.8.498.85",
                                                       "1.2.826.0.1.3680043.8.498.86"]
    # the media folder given as a folder finds the same runs (its DICOMDIR is not a run)
    assert sorted(s.key for s in find_runs([tmp_path / "media"]).runs) == sorted(
        s.key for s in found.runs)


def test_stenoses_csv_has_its_header_without_any_stenosis(tmp_path):
    """A batch whose runs list no stenosis still writes the full header of ``stenoses.csv``
    (key, then the stenosis columns in mm, as ``qca.csv``), not a lone ``key``."""
    from AngioSegLib.batch.records import RunRecord
    from AngioSegLib.batch.summary import STENOSES_CSV, write_tables

    write_tables(tmp_path, [RunRecord(key="k", status="ok", input="a.dcm")], {"inputs": []})
    header = (tmp_path / STENOSES_CSV).read_text().splitlines()[0].split(",")
    assert header[0] == "key" and "mld_mm" in header
    assert "percent_diameter_stenosis_percent" in header
