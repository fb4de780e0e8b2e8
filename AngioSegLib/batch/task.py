"""One run of a batch, as a worker does it: read → pipeline → outputs → completion marker.

:func:`process_run` never raises for a run that cannot be done: it returns a
:class:`~.records.RunRecord` with status ``failed`` and the one-line reason, so
the batch goes on (an interrupt still stops it). The model is loaded once per process
(:func:`cached_segmenter`) and reused by every run that process does.

The completion marker (:data:`COMPLETION_MARKER`, written last, atomically) holds the run's
record; ``--resume`` trusts a run folder only when its marker is there, names the same input
(identity) and every file it lists exists.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

from AngioSegLib.batch.records import BatchSettings, RunRecord, RunSpec, RunStatus
from AngioSegLib.errors import AngioSegError

COMPLETION_MARKER = "batch-complete.json"
"""The file written last into a run's folder: the run's summary record, and what it read."""

logger = logging.getLogger(__name__)

_SEGMENTERS: dict[tuple, object] = {}
_SEGMENTERS_LOCK = threading.Lock()


def worker_label() -> str:
    """This process as the summary names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def cached_segmenter(settings: BatchSettings):
    """The :class:`~AngioSegLib.segment.segmenter.Segmenter` of ``settings``, loaded once per
    process (a model or device that cannot be loaded fails every later run at once, with its
    reason)."""
    from AngioSegLib.pipeline import make_segmenter

    pipeline = settings.pipeline
    key = (pipeline.model, pipeline.inference, settings.threads)
    with _SEGMENTERS_LOCK:
        if key not in _SEGMENTERS:
            try:
                _SEGMENTERS[key] = make_segmenter(pipeline, threads=settings.threads)
            except AngioSegError as error:  # a missing model or device: once, not per run
                _SEGMENTERS[key] = error
        found = _SEGMENTERS[key]
    if isinstance(found, AngioSegError):
        raise found
    return found


def read_run(spec: RunSpec):
    """The :class:`~AngioSegLib.cine.CineRun` of ``spec`` (lazy frames, as the readers give)."""
    if not spec.files:
        from AngioSegLib.io import read_cine

        return read_cine(spec.source)
    # One series among others in a folder: read just its files. The XA reader's instance-level
    # functions do what read_xa does for a folder, minus choosing among series.
    from AngioSegLib.io.xa import read_run
    from AngioSegLib.io.xa_header import read_header

    return read_run([read_header(path) for path in spec.files], spec.source)


def process_run(spec: RunSpec, settings: BatchSettings) -> RunRecord:
    """Analyse one run and write its outputs into ``settings.output / spec.key``.

    Returns the run's record: ``ok`` with its measures and timings, or ``failed`` with the
    one-line reason. Only an interrupt (KeyboardInterrupt) escapes; unfinished outputs are
    removed by the writers' own cleanup.
    """
    start = time.perf_counter()
    folder = settings.output / spec.key
    try:
        return _process(spec, settings, folder, start)
    except AngioSegError as error:
        reason = str(error)
    except MemoryError:
        reason = "out of memory while analysing the run; run it alone or on a larger machine"
    except Exception as error:  # a bug must not stop the other runs: say it and log it
        logger.exception("run %s failed unexpectedly", spec.label)
        reason = (f"internal error ({type(error).__name__}: {error}); please report it with "
                  "the input's description")
    return RunRecord(key=spec.key, status=RunStatus.FAILED, input=spec.label,
                     reason=" ".join(reason.split()), worker=worker_label(),
                     total_s=round(time.perf_counter() - start, 3))


def _process(spec: RunSpec, settings: BatchSettings, folder: Path, start: float) -> RunRecord:
    from AngioSegLib.io.atomic import atomic_write
    from AngioSegLib.outputs.writers import (
        check_free_space,
        estimate_output_bytes,
        reserve_output_folder,
        write_outputs,
    )
    from AngioSegLib.pipeline import run

    keep = (spec.source, *spec.files)
    with reserve_output_folder(folder, force=True, keep=keep) as folder:
        cine = read_run(spec)
        read_s = time.perf_counter() - start
        check_free_space(folder, estimate_output_bytes(cine.shape))
        options = replace(settings.pipeline, catheter=spec.catheter)
        result = run(cine, options, segmenter=cached_segmenter(settings))
        written = time.perf_counter()
        paths = write_outputs(result, folder, settings.outputs)
        write_s = time.perf_counter() - written
        record = _ok_record(spec, result, folder, read_s, write_s, start)
        marker = {"identity": spec.identity, "files": [p.name for p in paths.files],
                  "record": record.to_json()}
        with atomic_write(folder / COMPLETION_MARKER, force=True) as tmp:
            tmp.write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return record


def _ok_record(spec: RunSpec, result, folder: Path, read_s: float, write_s: float,
               start: float) -> RunRecord:
    from AngioSegLib.outputs.tables import qca_document

    cine, analysis, timings = result.cine, result.analysis, result.timings_s
    stenoses = qca_document(analysis)["stenoses"] if analysis is not None else []
    worst = analysis.stenoses[0] if analysis is not None and analysis.stenoses else None
    return RunRecord(
        key=spec.key, status=RunStatus.OK, input=spec.label,
        frames=cine.n_frames, rows=cine.shape[1], columns=cine.shape[2],
        calibration=cine.calibration.source.value, mm_per_pixel=cine.calibration.mm_per_pixel,
        model=f"{result.model_name} {result.model_version}".strip(), device=result.device,
        stenoses=len(stenoses) if analysis is not None else None,
        worst_ds_percent=round(worst.percent_diameter_stenosis, 1) if worst else None,
        worst_segment=worst.segment_label if worst else None,
        read_s=_s(read_s + timings.get("decode", 0.0)), segment_s=_s(timings.get("segment")),
        temporal_s=_s(timings.get("temporal")), quantify_s=_s(timings.get("quantify")),
        write_s=_s(write_s), total_s=_s(time.perf_counter() - start),
        worker=worker_label(), output=folder.name,
        stenosis_rows=tuple({"key": spec.key, **row} for row in stenoses),
    )


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def completed_record(spec: RunSpec, folder: Path) -> RunRecord | None:
    """The record of an earlier batch's complete run of ``spec`` in ``folder``, else None."""
    marker = folder / COMPLETION_MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        if data.get("identity") != spec.identity:
            return None
        if not all((folder / name).is_file() for name in data.get("files", [])):
            return None
        return RunRecord.from_json(data["record"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
