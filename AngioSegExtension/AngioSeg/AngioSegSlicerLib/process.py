"""Run the AngioSeg pipeline in a background process, with per-frame progress and cancel.

The parent (Slicer) writes what to read and the options into a private temporary folder and
starts this file as a script with Slicer's Python. What to read is the run's DICOM file (or
folder), which the worker reads itself with ``AngioSegLib.io.xa.read_xa``, so the GUI thread
neither decodes the run nor pickles its pixels; only a cine that exists in the scene alone (no
source file) has its frames written, as a raw ``.npy`` array that the worker memory-maps. The
worker runs ``AngioSegLib.pipeline.run``, reports each progress event as one line on stdout,
then writes the Result next to its input. Cancel kills the whole process tree (the PythonSlicer
launcher and the interpreter it starts). Qt-free: the widget polls :meth:`BackgroundJob.poll`
from a QTimer, tests call :meth:`BackgroundJob.wait`, the self-test :func:`pollUntilFinished`.

Worker protocol, one line each on stdout: ``ANGIOSEG_PROGRESS {"stage", "done", "total",
"message"}``, then ``ANGIOSEG_DONE`` or ``ANGIOSEG_ERROR {"type", "message"}`` (exit code 2).
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

PROGRESS_PREFIX = "ANGIOSEG_PROGRESS "
DONE_LINE = "ANGIOSEG_DONE"
ERROR_PREFIX = "ANGIOSEG_ERROR "
INPUT_FILE = "input.pkl"
FRAMES_FILE = "frames.npy"
RESULT_FILE = "result.pkl"
_WINDOWS_FLAGS = (  # own process group (for taskkill /T), no console window
    getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "CREATE_NO_WINDOW", 0)
)


@dataclass(frozen=True)
class JobInput:
    """What the worker reads (``input.pkl``, as a dict): a path and the options, never pixels.

    ``path`` is the run's DICOM file or folder; without one, ``cineFields`` holds the scene
    cine's fields other than ``frames`` (calibration, times, references: no pixel data), whose
    frames are in ``frames.npy`` beside it.
    """

    options: object
    path: str | None = None
    cineFields: dict | None = None


@dataclass(frozen=True)
class JobEvent:
    """A progress event read from the worker (``stage`` "log" for other output lines)."""

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    errorType: str = ""  # for "error": the AngioSegError subclass the worker raised


class JobError(RuntimeError):
    """The worker failed; ``errorType`` is the AngioSegError class name it raised (or "")."""

    def __init__(self, message: str, errorType: str = "") -> None:
        super().__init__(message)
        self.errorType = errorType


class BackgroundJob:
    """One pipeline run in a child process.

    ``start(source, options)`` with the run's DICOM path or a CineRun; then ``poll()`` returns
    new events until ``finished``; ``result()`` loads the Result (raises :class:`JobError` when
    the worker failed); ``cancel()`` kills it. The temporary folder is removed by ``result()``,
    ``cancel()`` or ``cleanup()``.
    """

    def __init__(self, pythonExecutable: str | None = None, env: dict | None = None) -> None:
        self.pythonExecutable = pythonExecutable or sys.executable
        self.env = env
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.cancelled = False
        self._events: queue.Queue = queue.Queue()
        self._error: JobError | None = None
        self._lastLine = ""
        self._done = False
        self._reader: threading.Thread | None = None

    def start(self, source, options) -> None:
        """Write the job input and start the worker.

        ``source`` is the path of the run's DICOM file or folder, or a CineRun: one read from a
        file (``source_path`` set) is passed as that path and read again by the worker (so
        in-memory changes to it are not carried: put them in the options); one that exists only
        in memory (the scene's frames) has its frames written to ``frames.npy``.
        """
        if self.process is not None:
            raise RuntimeError("this job was already started; make a new BackgroundJob")
        self.folder = Path(tempfile.mkdtemp(prefix="angioseg-job-"))
        try:
            writeJobInput(self.folder, source, options)
            command = [self.pythonExecutable, str(Path(__file__).resolve()), str(self.folder)]
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=self.env,
                start_new_session=os.name == "posix",
                creationflags=_WINDOWS_FLAGS,
            )
        finally:
            if self.process is None:  # the input could not be written or the worker not started
                self.cleanup()
        self._reader = threading.Thread(target=self._readOutput, daemon=True)
        self._reader.start()

    def _readOutput(self) -> None:
        for line in self.process.stdout:
            self._events.put(parseLine(line.rstrip("\n")))
        self.process.wait()
        self._events.put(None)

    @property
    def finished(self) -> bool:
        """True once the worker has exited and all its output was read."""
        return self._done

    def poll(self) -> list[JobEvent]:
        """The events that arrived since the last call (never blocks)."""
        events = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return events
            if event is None:
                self._done = True
                return events
            self._take(event)
            events.append(event)

    def _take(self, event: JobEvent) -> None:
        if event.stage == "error":
            self._error = JobError(event.message, event.errorType)
        elif event.stage == "log" and event.message.strip():
            self._lastLine = event.message.strip()

    def wait(self, timeout_s: float | None = None, callback=None) -> None:
        """Block until the worker ends, passing each event to ``callback``."""
        while not self._done:
            try:
                event = self._events.get(timeout=timeout_s)
            except queue.Empty as error:
                self.cancel()
                raise JobError(f"the segmentation took longer than {timeout_s} s") from error
            if event is None:
                self._done = True
                break
            self._take(event)
            if callback is not None:
                callback(event)

    def result(self):
        """The pipeline Result; raises :class:`JobError` if the worker failed or was cancelled."""
        try:
            if self.cancelled:
                raise JobError("the segmentation was cancelled", "CancelledError")
            if self._error is not None:
                raise self._error
            path = self.folder / RESULT_FILE if self.folder else None
            if self.process is None or self.process.returncode != 0 or path is None or (
                not path.exists()
            ):
                code = self.process.returncode if self.process else None
                raise JobError(
                    f"the segmentation process stopped with exit code {code}: {self._lastLine}"
                )
            with open(path, "rb") as file:
                return pickle.load(file)
        finally:
            self.cleanup()

    def cancel(self) -> None:
        """Kill the worker and everything it started; remove the temporary folder."""
        self.cancelled = True
        if self.process is not None and self.process.poll() is None:
            killProcessTree(self.process)
            self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.poll()
        self._done = True
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the temporary folder (idempotent)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def startJob(cine, options, startupEnvironment=None) -> BackgroundJob:
    """Start the pipeline on ``cine`` in a background process; poll the returned job.

    The worker runs with Slicer's ``PythonSlicer`` and ``startupEnvironment()`` (Slicer's startup
    environment) when PythonSlicer is on the PATH, else with this Python. A cine read from a file
    goes to the worker as its path (the worker reads it); one that is only in the scene as its
    frames.
    """
    python = shutil.which("PythonSlicer")
    env = startupEnvironment() if python and startupEnvironment is not None else None
    job = BackgroundJob(python, env=env)
    job.start(cine, options)
    return job


def pollUntilFinished(job: BackgroundJob, timeout_s: float, idle=None,
                      clock=time.monotonic) -> list[JobEvent]:
    """Poll ``job`` until it finishes, calling ``idle()`` between polls (e.g. to process Qt
    events); return the events. After ``timeout_s`` the job is cancelled and a JobError says so.
    """
    deadline = clock() + timeout_s
    events = list(job.poll())
    while not job.finished:
        if clock() > deadline:
            job.cancel()
            raise JobError(
                f"the segmentation did not finish within {timeout_s:g} s and was cancelled "
                f"(last events: {[e.stage for e in events[-3:]]})", "TimeoutError"
            )
        if idle is not None:
            idle()
        else:
            time.sleep(0.05)
        events += job.poll()
    return events


def killProcessTree(process: subprocess.Popen) -> None:
    """Kill ``process`` and its children (its own session on POSIX, ``taskkill /T`` on Windows)."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False
        )


def parseLine(line: str) -> JobEvent:
    """One worker output line as an event ("progress" stages, "done", "error" or "log")."""
    if line.startswith(PROGRESS_PREFIX):
        data = json.loads(line[len(PROGRESS_PREFIX):])
        return JobEvent(data["stage"], int(data["done"]), int(data["total"]), data["message"])
    if line == DONE_LINE:
        return JobEvent("done")
    if line.startswith(ERROR_PREFIX):
        data = json.loads(line[len(ERROR_PREFIX):])
        return JobEvent("error", message=data["message"], errorType=data["type"])
    return JobEvent("log", message=line)


# --- job input ---------------------------------------------------------------------------------


def writeJobInput(folder: Path, source, options) -> JobInput:
    """Write ``input.pkl`` (and ``frames.npy`` for an in-memory cine) into ``folder``."""
    import numpy as np

    if isinstance(source, (str, os.PathLike)):
        job = JobInput(options, path=str(Path(source).resolve()))
    elif getattr(source, "source_path", None) is not None:
        job = JobInput(options, path=str(Path(source.source_path).resolve()))
    else:
        np.save(folder / FRAMES_FILE, np.ascontiguousarray(source.to_array()), allow_pickle=False)
        job = JobInput(options, cineFields={
            f.name: getattr(source, f.name) for f in fields(source) if f.name != "frames"
        })
    with open(folder / INPUT_FILE, "wb") as file:  # a dict: the worker runs as __main__
        pickle.dump(vars(job), file, protocol=pickle.HIGHEST_PROTOCOL)
    return job


def readJobInput(folder: Path):
    """(cine, options) of the job in ``folder``: the run read from its file, or memory-mapped."""
    with open(folder / INPUT_FILE, "rb") as file:
        job = JobInput(**pickle.load(file))
    if job.path is not None:
        from AngioSegLib.io.xa import read_xa

        return read_xa(job.path), job.options
    import numpy as np

    from AngioSegLib.cine import CineRun

    frames = np.load(folder / FRAMES_FILE, mmap_mode="r", allow_pickle=False)
    return CineRun(frames=frames, **job.cineFields), job.options


# --- worker side -----------------------------------------------------------------------------


def _emit(prefix: str, payload: dict | None = None) -> None:
    text = prefix if payload is None else prefix + json.dumps(payload)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def runWorker(folder: Path) -> int:
    """Read the run, run the pipeline and write ``folder``/result.pkl atomically."""
    from AngioSegLib.errors import AngioSegError
    from AngioSegLib.pipeline import run

    def progress(event) -> None:
        _emit(PROGRESS_PREFIX, {"stage": event.stage, "done": event.done, "total": event.total,
                                "message": event.message})

    try:
        cine, options = readJobInput(folder)
        result = run(cine, options, progress=progress)
        partial = folder / (RESULT_FILE + ".part")
        with open(partial, "wb") as file:
            pickle.dump(result, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, folder / RESULT_FILE)
    except AngioSegError as error:
        _emit(ERROR_PREFIX, {"type": type(error).__name__, "message": str(error)})
        return 2
    _emit(DONE_LINE)
    return 0


if __name__ == "__main__":
    # Run as a script, this file's folder is sys.path[0]: drop it, so that the package's
    # modules (options, results, ...) cannot shadow top-level modules of the same name.
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    sys.exit(runWorker(Path(sys.argv[1])))
