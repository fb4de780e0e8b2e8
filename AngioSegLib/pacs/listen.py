"""`Listener`: a DICOM node that segments every XA instance it receives and sends SEG + SR on.

A pynetdicom C-STORE SCP (and Verification, for C-ECHO) that accepts associations called with its
AE title, for every storage SOP class in any transfer syntax, so that it can answer each
instance with a status rather than refuse a whole association:

* not X-ray angiography (XA, Enhanced XA, XRF, XA/RF Secondary Capture): ``0x0122`` *Refused:
  SOP Class not supported*;
* no pixel data: ``0xA900`` *Error: Data Set does not match SOP Class*;
* unreadable as a run (damaged header, truncated pixel data, a transfer syntax no decoder
  handles — :func:`~AngioSegLib.io.read_cine` says which): ``0xC000`` *Error: Cannot understand*;
* the work queue full, or the node stopping: ``0xA700`` *Refused: Out of resources* (the sender
  may retry later).

Each accepted instance is written to a spool folder (not kept in memory) and queued; the queue
holds at most ``queue_size`` instances, so a burst of runs is refused rather than exhausting
memory or disk. One worker thread runs the pipeline on each (the model is loaded once, at
:meth:`Listener.start`), writes the SEG and SR (:mod:`AngioSegLib.outputs.writers`, all or nothing)
and sends them to the destination (:func:`.node.send_instances`: SEG first, SR only after it). A
failed run or send is logged and the node carries on. :meth:`Listener.stop` stops accepting,
lets the run in progress finish and drops (and logs) what is still queued.

The library never prints: every event is a line handed to ``log``.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from AngioSegLib.errors import AngioSegError, InputError, OutputNotWritableError
from AngioSegLib.pacs.node import DicomNode, check_ae_title, send_instances
from AngioSegLib.pipeline import PipelineOptions

__all__ = ["ListenOptions", "Listener"]

REFUSED_SOP_CLASS = 0x0122
REFUSED_OUT_OF_RESOURCES = 0xA700
ERROR_DATASET_MISMATCH = 0xA900
ERROR_CANNOT_UNDERSTAND = 0xC000
_ANGIO = {"1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.1.1",
          "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.12.2.1"}
_SECONDARY_CAPTURE = {"1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.2",
                      "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4"}
_STOP = object()


def _no_log(_line: str) -> None:
    """Discard a log line."""


@dataclass(frozen=True)
class ListenOptions:
    """A node: its AE title, where it listens (``host``, ``port``), where results go, the queue
    length (instances), an optional folder that keeps every run's outputs (one subfolder per
    SOP Instance UID), the pipeline's options and the network timeout (s)."""

    ae_title: str
    port: int
    destination: DicomNode
    host: str = "0.0.0.0"
    queue_size: int = 4
    output_dir: Path | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title)
        if not 0 < self.port < 65536:
            raise InputError(f"--port must be between 1 and 65535, found {self.port}")
        if self.queue_size < 1:
            raise InputError(f"--queue-size must be 1 or more instances, found {self.queue_size}")
        if not self.timeout_s > 0:
            raise InputError(f"--timeout must be more than 0 s, found {self.timeout_s}")


def _is_angio(ds) -> bool:
    uid = str(ds.get("SOPClassUID", ""))
    return uid in _ANGIO or (uid in _SECONDARY_CAPTURE
                             and str(ds.get("Modality", "")).upper() in ("XA", "RF"))


def _new_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name.2``, ``.3``… when it exists (the same instance again)."""
    path, number = parent / name, 1
    while path.exists():
        number += 1
        path = parent / f"{name}.{number}"
    return path


class Listener:
    """The node (see the module docstring); use as a context manager or start()/stop()."""

    def __init__(self, options: ListenOptions, log: Callable[[str], None] = _no_log,
                 segmenter=None):
        self.options, self.log = options, log
        self.segmenter = segmenter
        self.processed = self.refused = self.failed = 0
        self._queue: queue.Queue = queue.Queue(maxsize=options.queue_size)
        self._stopping = threading.Event()
        self._spool: Path | None = None
        self._server = None
        self._worker: threading.Thread | None = None

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        """Load the model, then listen; raises AngioSegError when either cannot start."""
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        if self.segmenter is None:
            from AngioSegLib.pipeline import make_segmenter

            self.segmenter = make_segmenter(self.options.pipeline)
        if self.options.output_dir is not None:
            from AngioSegLib.io.atomic import check_writable_folder

            try:
                Path(self.options.output_dir).mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise OutputNotWritableError(
                    f"cannot create --output-dir {self.options.output_dir} "
                    f"({error.strerror or error}); choose a folder you can write to") from error
            check_writable_folder(self.options.output_dir)
        self._spool = Path(tempfile.mkdtemp(prefix="angioseg-listen-"))
        ae = AE(ae_title=self.options.ae_title)
        ae.require_called_aet = True
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.options.timeout_s
        from pynetdicom import ALL_TRANSFER_SYNTAXES

        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        self._worker = threading.Thread(target=self._work, name="angioseg-run", daemon=True)
        self._worker.start()
        try:
            self._server = ae.start_server((self.options.host, self.options.port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        except OSError as error:
            self._queue.put(_STOP)
            shutil.rmtree(self._spool, ignore_errors=True)
            raise InputError(f"cannot listen on {self.options.host}:{self.options.port} "
                             f"({error.strerror or error}); choose another --port") from error
        self.log(f"listening as {self.options.ae_title} on {self.options.host}:"
                 f"{self.options.port}; SEG + SR go to {self.options.destination}; queue of "
                 f"{self.options.queue_size}")

    def stop(self) -> None:
        """Stop accepting, finish the run in progress, drop (and log) the queued ones."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
        dropped = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                dropped += 1
                item[0].unlink(missing_ok=True)
        self._queue.put(_STOP)
        if self._worker is not None:
            self._worker.join()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
        if dropped:
            self.log(f"{dropped} queued instance(s) were not processed; send them again")
        self.log(f"stopped: {self.processed} run(s) sent, {self.failed} failed, "
                 f"{self.refused} instance(s) refused")

    # --- the SCP side, in pynetdicom's association threads ---------------------------------

    def _refuse(self, status: int, uid: str, calling: str, reason: str) -> int:
        self.refused += 1
        self.log(f"refused {uid} from {calling} (status 0x{status:04X}): {reason}")
        return status

    def _on_store(self, event) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            ds = event.dataset
            uid = str(ds.get("SOPInstanceUID", "without SOP Instance UID"))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
            return self._refuse(ERROR_CANNOT_UNDERSTAND, "an instance", calling,
                                f"its data set cannot be decoded ({error})")
        if self._stopping.is_set():
            return self._refuse(REFUSED_OUT_OF_RESOURCES, uid, calling, "the node is stopping")
        if not _is_angio(ds):
            from pydicom.uid import UID

            name = UID(str(ds.get("SOPClassUID", ""))).name or "no SOP class"
            return self._refuse(REFUSED_SOP_CLASS, uid, calling,
                                f"{name} (Modality {ds.get('Modality') or 'none'}) is not X-ray "
                                "angiography")
        if "PixelData" not in ds:
            return self._refuse(ERROR_DATASET_MISMATCH, uid, calling, "it has no pixel data")
        if self._queue.full():
            return self._refuse(REFUSED_OUT_OF_RESOURCES, uid, calling,
                                f"{self._queue.maxsize} runs are already waiting; send it later")
        return self._accept(event, uid, calling)

    def _accept(self, event, uid: str, calling: str) -> int:
        from AngioSegLib.io import read_cine

        path = self._spool / f"{uuid.uuid4().hex}.dcm"
        try:
            path.write_bytes(event.encoded_dataset(include_meta=True))
            cine = read_cine(path)  # checks header, pixel data length, decodes first and last
            self._queue.put_nowait((path, uid))
        except AngioSegError as error:
            path.unlink(missing_ok=True)
            return self._refuse(ERROR_CANNOT_UNDERSTAND, uid, calling, str(error))
        except OSError as error:
            path.unlink(missing_ok=True)
            return self._refuse(REFUSED_OUT_OF_RESOURCES, uid, calling,
                                f"cannot spool it ({error.strerror or error})")
        except queue.Full:
            path.unlink(missing_ok=True)
            return self._refuse(REFUSED_OUT_OF_RESOURCES, uid, calling,
                                f"{self._queue.maxsize} runs are already waiting; send it later")
        self.log(f"received {uid} from {calling}: {cine.n_frames} frames "
                 f"{cine.shape[2]}×{cine.shape[1]}; queued ({self._queue.qsize()}/"
                 f"{self._queue.maxsize})")
        return 0x0000

    # --- the worker ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            path, uid = item
            self.log(f"running {uid}")
            try:
                self._process(path, uid)
            except AngioSegError as error:
                self.failed += 1
                self.log(f"run of {uid} failed: {error}")
            except (RuntimeError, ValueError, OSError, MemoryError) as error:
                self.failed += 1
                self.log(f"run of {uid} failed unexpectedly ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}); the node goes on")
            finally:
                path.unlink(missing_ok=True)

    def _process(self, path: Path, uid: str) -> None:
        from AngioSegLib.io import read_cine
        from AngioSegLib.outputs.writers import OutputOptions, write_outputs
        from AngioSegLib.pipeline import run

        cine = read_cine(path)
        result = run(cine, self.options.pipeline, segmenter=self.segmenter)
        keep = self.options.output_dir is not None
        with tempfile.TemporaryDirectory(dir=self._spool) as tmp:
            out = _new_folder(Path(self.options.output_dir), uid) if keep else Path(tmp) / "out"
            write_outputs(result, out, OutputOptions(labelmaps=keep, video=False, report=keep))
            files = [out / "segmentation.dcm", out / "measurements.dcm"]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise InputError(f"no {' and '.join(missing)} for {uid}; nothing was sent")
            send_instances(files, self.options.destination, self.options.ae_title,
                           self.options.timeout_s)
        self.processed += 1
        analysis = result.analysis
        worst = (f", most severe {analysis.stenoses[0].percent_diameter_stenosis:.0f} %DS"
                 if analysis is not None and analysis.stenoses else "")
        count = len(analysis.stenoses) if analysis is not None else 0
        self.log(f"sent SEG + SR of {uid} to {self.options.destination} ({count} stenoses{worst})")
