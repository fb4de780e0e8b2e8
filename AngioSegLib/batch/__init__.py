"""Batch analysis of many runs: find the runs, run each once, record one row per run.

:func:`~.runner.run_batch` is the entry; the pieces are small modules:
:mod:`~.inputs` (files, folders, DICOMDIR and manifest CSV → one
:class:`~.records.RunSpec` per run, duplicates found),
:mod:`~.task` (one run on a worker: read, pipeline, outputs, completion marker),
:mod:`~.scale_out` (in this process, a plain process pool, or Dask),
:mod:`~.summary` (``summary.csv``, ``summary.json``, ``stenoses.csv``).
"""

from __future__ import annotations

from AngioSegLib.batch.records import BatchSettings, RunRecord, RunSpec, RunStatus
from AngioSegLib.batch.runner import BatchOptions, BatchResult, run_batch

__all__ = [
    "BatchOptions",
    "BatchResult",
    "BatchSettings",
    "RunRecord",
    "RunSpec",
    "RunStatus",
    "run_batch",
]
