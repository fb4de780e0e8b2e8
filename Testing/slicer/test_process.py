"""AngioSegSlicerLib.process: the background worker, its job input (a path, not pixels), progress,
errors, cancel and the polling timeout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from AngioSegSlicerLib import process as P
from AngioSegSlicerLib.process import BackgroundJob, JobError, JobEvent, parseLine

from AngioSegLib.pipeline import CatheterCalibration, PipelineOptions
from AngioSegLib.segment.options import InferenceOptions
from AngioSegLib.temporal.options import TemporalOptions


def test_worker_lines_parse():
    line = 'ANGIOSEG_PROGRESS {"stage": "segment", "done": 3, "total": 8, "message": ""}'
    event = parseLine(line)
    assert (event.stage, event.done, event.total) == ("segment", 3, 8)
    error = parseLine('ANGIOSEG_ERROR {"type": "ModelError", "message": "no model x"}')
    assert (error.stage, error.errorType, error.message) == ("error", "ModelError", "no model x")
    assert parseLine("ANGIOSEG_DONE").stage == "done"
    assert parseLine("some warning").stage == "log"


def test_background_job_reports_each_frame_and_returns_the_result(small_cine, untrained_bundle):
    from AngioSegLib.pipeline import run

    options = PipelineOptions(model=str(untrained_bundle),
                              inference=InferenceOptions(device="cpu"),
                              temporal=TemporalOptions(k=1), qca=None)
    job = BackgroundJob()
    job.start(small_cine, options)
    folder = job.folder
    events = []
    job.wait(timeout_s=240, callback=events.append)
    result = job.result()
    assert not folder.exists()
    frames = [(e.done, e.total) for e in events if e.stage == "segment"]
    assert frames[-1] == (3, 3) and [d for d, _ in frames] == sorted(d for d, _ in frames)
    assert {"temporal", "done"} <= {e.stage for e in events}
    assert result.masks.shape == (3, 64, 64) and result.masks.dtype == np.uint8
    direct = run(small_cine, options)
    assert direct.probabilities.std() > 0
    np.testing.assert_allclose(result.probabilities, direct.probabilities, atol=1e-5)


def test_worker_errors_reach_the_job_with_their_message(small_cine):
    outside = PipelineOptions(
        catheter=CatheterCalibration(french=6.0, points=((10.0, 10.0), (90.0, 20.0))))
    job = BackgroundJob()
    job.start(small_cine, outside)
    job.wait(timeout_s=120)
    message = r"catheter point \(row 90.0, column 20.0\) is outside the 64×64 image"
    with pytest.raises(JobError, match=message) as error:
        job.result()
    assert error.value.errorType == "InputError"


def test_cancel_kills_the_worker_and_cleans_up(phantom):
    job = BackgroundJob()
    job.start(phantom.cine, PipelineOptions(inference=InferenceOptions(device="cpu")))
    folder = job.folder
    assert folder.is_dir() and job.process.poll() is None
    job.cancel()
    assert job.process.poll() is not None and job.finished
    assert not folder.exists()
    with pytest.raises(JobError, match="cancelled"):
        job.result()


def test_a_run_from_a_file_goes_to_the_worker_as_its_path(small_cine, tmp_path):
    from AngioSegLib.io.xa import read_xa
    from AngioSegLib.io.xa_write import write_xa

    path = write_xa(small_cine, tmp_path / "run.dcm")
    lazy = read_xa(path)
    assert not isinstance(lazy.frames, np.ndarray)  # headers read, pixels not decoded
    folder = tmp_path / "job"
    folder.mkdir()
    options = PipelineOptions(temporal=TemporalOptions(k=1))
    for source in (path, str(path), lazy):
        job = P.writeJobInput(folder, source, options)
        assert job.path == str(Path(path).resolve()) and job.cineFields is None
        assert not (folder / P.FRAMES_FILE).exists()
        payload = (folder / P.INPUT_FILE).read_bytes()
        assert b"numpy" not in payload and len(payload) < 4096  # no pixels pickled
    cine, back = P.readJobInput(folder)
    assert back == options
    assert cine.source_path is not None and cine.shape == small_cine.shape
    np.testing.assert_array_equal(cine.to_array(), read_xa(path).to_array())


def test_a_scene_only_cine_goes_as_raw_frames_beside_its_fields(small_cine, tmp_path):
    job = P.writeJobInput(tmp_path, small_cine, PipelineOptions())
    assert job.path is None and "frames" not in job.cineFields
    with open(tmp_path / P.INPUT_FILE, "rb") as file:
        assert not any(isinstance(v, np.ndarray) and v.ndim == 3
                       for v in pickle.load(file)["cineFields"].values())
    assert np.load(tmp_path / P.FRAMES_FILE, allow_pickle=False).dtype != object  # raw array
    cine, _ = P.readJobInput(tmp_path)
    assert isinstance(cine.frames, np.memmap)
    np.testing.assert_array_equal(cine.frames, small_cine.frames)
    assert cine.frame_times_s is not None
    np.testing.assert_allclose(cine.frame_times_s, small_cine.frame_times_s)
    assert cine.calibration == small_cine.calibration and cine.name == small_cine.name


def test_the_worker_reads_the_xa_file_itself(small_cine, untrained_bundle, tmp_path):
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.pipeline import run

    path = write_xa(small_cine, tmp_path / "run.dcm")
    options = PipelineOptions(model=str(untrained_bundle),
                              inference=InferenceOptions(device="cpu"),
                              temporal=TemporalOptions(k=1), qca=None)
    job = BackgroundJob()
    job.start(path, options)
    assert not (job.folder / P.FRAMES_FILE).exists()
    job.wait(timeout_s=240)
    result = job.result()
    assert result.cine.source_path is not None and Path(result.cine.source_path).name == "run.dcm"
    from AngioSegLib.io.xa import read_xa

    np.testing.assert_array_equal(result.masks, run(read_xa(path), options).masks)


def test_a_job_whose_input_cannot_be_written_leaves_no_folder(monkeypatch, tmp_path):
    made = []

    def mkdtemp(prefix):
        made.append(tmp_path / "job")
        made[-1].mkdir()
        return str(made[-1])

    monkeypatch.setattr(P.tempfile, "mkdtemp", mkdtemp)
    job = BackgroundJob()
    with pytest.raises(FileNotFoundError):
        job.start(_Unwritable(), PipelineOptions())
    assert made and not made[0].exists() and job.folder is None and job.process is None


class _Unwritable:
    """A cine-like object whose frames cannot be read."""

    source_path = None

    def to_array(self):
        raise FileNotFoundError("the frames are gone")


class _StuckJob:
    """A job that never finishes, to test the polling timeout."""

    def __init__(self) -> None:
        self.finished, self.cancelled = False, False

    def poll(self):
        return [JobEvent("segment", 1, 4)]

    def cancel(self) -> None:
        self.cancelled = True


def test_polling_stops_with_a_clear_error_after_the_timeout():
    job, ticks, idles = _StuckJob(), iter(range(1000)), []
    with pytest.raises(JobError, match=r"did not finish within 3 s and was cancelled") as error:
        P.pollUntilFinished(job, 3.0, idle=lambda: idles.append(1), clock=lambda: next(ticks))
    assert job.cancelled and error.value.errorType == "TimeoutError"
    assert 1 <= len(idles) <= 4


def test_polling_returns_every_event_of_a_finished_job():
    class Done(_StuckJob):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def poll(self):
            self.calls += 1
            self.finished = self.calls >= 3
            return [JobEvent("segment", self.calls, 3)]

    events = P.pollUntilFinished(Done(), 60.0, idle=lambda: None)
    assert [e.done for e in events] == [1, 2, 3]
