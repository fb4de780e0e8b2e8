"""`run_batch(inputs, options, progress) -> BatchResult`: analyse every run found, one row each.

The output folder holds one folder per run (named by its key, see
:func:`~.inputs.find_runs`) and the tables of
:mod:`~.summary`, rewritten as runs finish (at most every
:data:`TABLE_INTERVAL_S`) and once at the end, also when the batch is stopped (runs not done are
then listed as skipped). A run that fails is recorded with its reason and the others go on.

An output folder that is not empty is refused unless ``resume`` (runs whose completion marker is
there are skipped, the others done again) or ``force`` (every run done again; each run's folder
is replaced only once its new outputs are complete). One batch at a time may write a folder (a
lock beside it).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from AngioSegLib.batch.inputs import Discovery, find_runs
from AngioSegLib.batch.records import BatchSettings, RunRecord, RunSpec, RunStatus
from AngioSegLib.batch.scale_out import threads_per_run
from AngioSegLib.batch.summary import TABLE_NAMES, count_statuses, write_tables
from AngioSegLib.batch.task import completed_record
from AngioSegLib.choices import Choice, parse_choice
from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io.atomic import check_writable_folder, exclusive_lock
from AngioSegLib.outputs.writers import OutputOptions
from AngioSegLib.pipeline import PipelineOptions
from AngioSegLib.progress import Progress, ProgressCallback, no_progress


class BatchEngine(Choice):
    """What runs a batch's runs."""

    AUTO = "auto"  # Dask when ``workers`` or ``scheduler`` is given, else this process
    PROCESS = "process"  # one after another in this process
    POOL = "pool"  # a plain process pool of ``workers`` (a baseline for benchmarks)
    DASK = "dask"


TABLE_INTERVAL_S = 5.0
"""The tables are rewritten at most this often while runs finish (s)."""

STOPPED_REASON = "not run: the batch stopped before it (interrupted, or see its error)"
RESUMED_REASON = "outputs complete from an earlier batch (--resume)"


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch. ``workers``: local Dask worker processes (None: this process);
    ``scheduler``: the address of an existing Dask scheduler; ``threads``: CPU threads per run
    (None: chosen from the cores and the workers)."""

    output: Path
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    outputs: OutputOptions = field(default_factory=OutputOptions)
    resume: bool = False
    force: bool = False
    workers: int | None = None
    scheduler: str | None = None
    threads: int | None = None
    engine: BatchEngine | str = BatchEngine.AUTO

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output).expanduser())
        object.__setattr__(self, "engine", parse_choice(self.engine, BatchEngine, "batch engine"))
        if self.resume and self.force:
            raise InputError("--resume skips finished runs and --force redoes them; choose one")
        if self.workers is not None and self.scheduler is not None:
            raise InputError("--workers starts a local cluster and --scheduler uses an existing "
                             "one; choose one")
        if self.engine is BatchEngine.POOL and not self.workers:
            raise InputError("the process-pool engine needs a number of workers")
        if self.workers is not None:
            threads_per_run(self.workers)  # more workers than cores: refused here, before work


@dataclass(frozen=True)
class BatchResult:
    """Every run's record in the order found, and where the tables are."""

    output: Path
    records: tuple[RunRecord, ...]

    @property
    def counts(self) -> dict[str, int]:
        return count_statuses(self.records)

    @property
    def all_succeeded(self) -> bool:
        """No run failed (skipped duplicates and resumed runs are no failure)."""
        return self.counts[RunStatus.FAILED.value] == 0


def run_batch(inputs: Sequence[str | Path], options: BatchOptions,
              progress: ProgressCallback = no_progress) -> BatchResult:
    """Find the runs in ``inputs``, do each (see the module's docstring), write the tables.

    Reports ("batch", done, total, "<input file name>: <status>") as runs finish (runs already
    complete count as done from the first event). Raises
    :class:`~AngioSegLib.errors.AngioSegError` only for what stops the whole batch (no inputs, an
    output folder that may not be used, a cluster that cannot be reached); an interrupt stops it
    after the tables are written.
    """
    out = options.output
    _check_output(out, options)
    discovery = find_runs(inputs, exclude=(out,))
    out.mkdir(exist_ok=True)
    busy = f"another angioseg batch is writing {out}; wait for it or choose another output"
    with exclusive_lock(out, busy):
        started = _now()
        records, todo = _plan(discovery, out, options)
        _remove_stale_staging(out, todo)
        about = {"inputs": [str(p) for p in inputs], "output": str(out), "started": started,
                 "engine": _engine(options), "workers": options.workers,
                 "scheduler": options.scheduler}
        total = len(discovery.runs)
        done = total - len(todo)
        progress(Progress("batch", done, total, f"{len(todo)} runs to do"))
        last_write = time.monotonic()
        try:
            for record in _execute(todo, options):
                records[record.key] = record
                done += 1
                progress(Progress("batch", done, total,
                                  f"{Path(record.input).name}: {record.status.value}"))
                if time.monotonic() - last_write >= TABLE_INTERVAL_S:
                    write_tables(out, _ordered(records, discovery), about)
                    last_write = time.monotonic()
            _remove_stale_staging(out, todo)  # a worker killed while writing left its staging
        finally:
            final = _ordered(records, discovery)
            write_tables(out, final, {**about, "finished": _now()})
    return BatchResult(out, tuple(final))


def _check_output(out: Path, options: BatchOptions) -> None:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {out} is a file; choose a folder path")
    check_writable_folder(out.parent if str(out.parent) else Path("."))
    if out.is_dir() and any(out.iterdir()) and not (options.resume or options.force):
        raise OutputExistsError(
            f"output folder {out} is not empty; pass --resume to skip the runs already done, "
            "--force to do them all again, or choose another folder")


def _plan(discovery: Discovery, out: Path, options: BatchOptions
          ) -> tuple[dict[str, RunRecord], list[RunSpec]]:
    """The records known before running (resumed runs) and the runs to do."""
    records: dict[str, RunRecord] = {}
    todo: list[RunSpec] = []
    for spec in discovery.runs:
        earlier = completed_record(spec, out / spec.key) if options.resume else None
        if earlier is not None:
            records[spec.key] = replace(earlier, status=RunStatus.SKIPPED, reason=RESUMED_REASON)
        else:
            todo.append(spec)
    return records, todo


def _remove_stale_staging(out: Path, todo: Sequence[RunSpec]) -> None:
    """Remove the staging folders (``.<key>.XXXX``) that killed workers left for these runs
    (only while no run of them is being written: before the runs start, after they end)."""
    prefixes = tuple(f".{spec.key}." for spec in todo)
    for entry in out.iterdir():
        if entry.is_dir() and entry.name.startswith(prefixes) and entry.name not in TABLE_NAMES:
            shutil.rmtree(entry, ignore_errors=True)


def _engine(options: BatchOptions) -> BatchEngine:
    if options.engine is not BatchEngine.AUTO:
        return options.engine
    return BatchEngine.DASK if options.workers or options.scheduler else BatchEngine.PROCESS


def _execute(todo: list[RunSpec], options: BatchOptions) -> Iterator[RunRecord]:
    """The records of ``todo`` as the chosen engine finishes them."""
    from AngioSegLib.batch import scale_out

    if not todo:
        return
    engine = _engine(options)
    threads = options.threads
    if engine in (BatchEngine.DASK, BatchEngine.POOL) and options.workers and threads is None:
        threads = threads_per_run(options.workers)
    settings = BatchSettings(output=options.output.resolve(), pipeline=options.pipeline,
                             outputs=replace(options.outputs, force=True), threads=threads)
    if engine is BatchEngine.PROCESS:
        yield from scale_out.run_in_process(todo, settings)
    elif engine is BatchEngine.POOL:
        yield from scale_out.run_in_process_pool(todo, settings, options.workers)
    else:
        with scale_out.dask_client(options.workers, options.scheduler, threads) as client:
            yield from scale_out.run_on_dask(todo, settings, client)


def _ordered(records: dict[str, RunRecord], discovery: Discovery) -> list[RunRecord]:
    """One record per run in the order found (not done: skipped, stopped), then duplicates."""
    rows = []
    for spec in discovery.runs:
        rows.append(records.get(spec.key) or RunRecord(
            key=spec.key, status=RunStatus.SKIPPED, input=spec.label, reason=STOPPED_REASON))
    for duplicate in discovery.duplicates:
        same = "the same SOP instances" if duplicate.spec.series_uid else "the same file"
        rows.append(RunRecord(
            key=duplicate.spec.key, status=RunStatus.SKIPPED, input=duplicate.spec.label,
            reason=f"duplicate of {duplicate.first} ({same}); analysed once"))
    return rows


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
