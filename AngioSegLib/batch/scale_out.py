"""Where the runs of a batch are done: in this process, in a plain process pool, or on Dask.

Each engine takes the runs and the shared settings and yields one
:class:`~.records.RunRecord` per run **as it finishes** (not in input order).
The task is always :func:`~.task.process_run`, one run per task; each worker
process loads the model once and keeps it.

Dask: :func:`dask_client` starts a local cluster of ``workers`` processes (one task at a time
each; the CPU threads of a run chosen so that workers × threads ≤ cores) or connects to an
existing scheduler (``tcp://host:8786``: dask-jobqueue, Kubernetes, ``dask scheduler`` on a
workstation). A worker that dies while running a task (killed, out of memory) has its task run
again once on another worker (:data:`ALLOWED_FAILURES`, set on the local cluster's scheduler; an
existing cluster keeps its own ``distributed.scheduler.allowed-failures``); when it dies again the
run is recorded as failed. Workers read the inputs and write the outputs themselves: every
worker must see the same paths (a shared file system).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence

from AngioSegLib.batch.records import BatchSettings, RunRecord, RunSpec, RunStatus
from AngioSegLib.batch.task import process_run
from AngioSegLib.errors import ClusterError, InputError

ALLOWED_FAILURES = 1
"""Times a task may lose its worker and still be run again (1: retried once)."""

CONNECT_TIMEOUT_S = 20
"""How long to wait for an existing scheduler before giving up (s)."""

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may use (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_run(workers: int, cores: int | None = None) -> int:
    """CPU threads each of ``workers`` concurrent runs may use so that workers × threads ≤ cores.

    Raises :class:`~AngioSegLib.errors.InputError` when there are more workers than cores.
    """
    cores = available_cores() if cores is None else cores
    if workers < 1:
        raise InputError(f"--workers must be 1 or more, found {workers}")
    if workers > cores:
        raise InputError(f"--workers {workers} is more than this machine's {cores} CPU cores; "
                         f"use at most {cores}, or --scheduler to use a cluster")
    return max(1, cores // workers)


def run_in_process(specs: Sequence[RunSpec], settings: BatchSettings) -> Iterator[RunRecord]:
    """Do the runs one after the other in this process (one model for all)."""
    for spec in specs:
        yield process_run(spec, settings)


def run_in_process_pool(specs: Sequence[RunSpec], settings: BatchSettings, workers: int
                        ) -> Iterator[RunRecord]:
    """Do the runs in a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes
    (the baseline the Dask engine is measured against; a dead worker fails its run, no retry)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no fork of a process holding a model
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(process_run, spec, settings): spec for spec in specs}
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    yield _lost(futures[future], "a worker process died (killed or out of "
                                                 "memory); run it again with --resume")
        finally:
            for future in futures:
                future.cancel()


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                threads: int | None = None):
    """A :class:`distributed.Client` on an existing ``scheduler`` or on a new local cluster of
    ``workers`` processes whose runs use ``threads`` CPU threads each; closed after the block.

    Raises :class:`~AngioSegLib.errors.ClusterError` when the cluster cannot be reached or
    started.
    """
    from distributed import Client

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler {scheduler} ({error}); check "
                               "the address (tcp://host:8786) and that it is running") from error
        with client:
            yield client
        return
    with deferred_signals() as pending:  # a half-started cluster cannot be closed cleanly
        try:
            cluster = local_cluster(workers or 1, threads)
        except (OSError, TimeoutError, RuntimeError) as error:
            raise ClusterError(f"cannot start a local Dask cluster of {workers} workers "
                               f"({error}); try fewer workers or run without --workers") from error
    with cluster, Client(cluster) as client:
        pending.deliver()  # Ctrl-C or SIGTERM during the start: stop now, closing the cluster
        yield client


class _PendingSignals:
    """Signals held back by :func:`deferred_signals`, to deliver once it is safe."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.handlers: dict[int, object] = {}

    def deliver(self) -> None:
        """Call the handler of the first signal held back (a stop raises KeyboardInterrupt)."""
        if not self.received:
            return
        number = self.received.pop(0)
        self.received.clear()
        handler = self.handlers.get(number)
        if callable(handler):
            handler(number, None)
        elif handler != signal.SIG_IGN:
            raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_signals() -> Iterator[_PendingSignals]:
    """Within the block SIGINT and SIGTERM are held back (main thread only); afterwards the
    usual handlers are back and :meth:`_PendingSignals.deliver` delivers what arrived."""
    pending = _PendingSignals()
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    numbers = (signal.SIGINT, signal.SIGTERM)
    pending.handlers = {number: signal.getsignal(number) for number in numbers}
    for number in numbers:
        signal.signal(number, lambda received, _frame: pending.received.append(received))
    try:
        yield pending
    finally:
        for number, handler in pending.handlers.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def local_cluster(workers: int, threads: int | None = None, silence_logs: int = logging.ERROR):
    """A :class:`distributed.LocalCluster` of ``workers`` processes for batch runs.

    Each worker runs one task at a time and holds no second one in its queue (worker saturation
    1.0), so a worker that dies takes only its own run down; that run may lose its worker
    :data:`ALLOWED_FAILURES` times and still run again. Numerical libraries in each worker use
    ``threads`` threads (1 when None).
    """
    import dask
    from distributed import LocalCluster

    env = {name: str(threads or 1) for name in
           ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        return LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            scheduler_kwargs={"allowed_failures": ALLOWED_FAILURES}, env=env,
            silence_logs=silence_logs,
        )


def run_on_dask(specs: Sequence[RunSpec], settings: BatchSettings, client
                ) -> Iterator[RunRecord]:
    """Submit one task per run to ``client``'s cluster; yield the records as tasks finish.

    Tasks not finished when the caller stops iterating (an interrupt) are cancelled.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    batch = uuid.uuid4().hex[:8]
    futures = {
        client.submit(process_run, spec, settings, key=f"angioseg-run-{spec.key}-{batch}",
                      pure=False): spec
        for spec in specs
    }
    try:
        for future in as_completed(futures):
            spec = futures[future]
            try:
                yield future.result()
            except KilledWorker:
                yield _lost(spec, f"the worker running it died {ALLOWED_FAILURES + 1} times "
                                  "(killed or out of memory); run it alone with --resume")
            except Exception as error:  # the task is lost, not the batch: say it and log it
                logger.exception("Dask task of run %s failed", spec.label)
                yield _lost(spec, f"the Dask task failed ({type(error).__name__}: {error})")
            future.release()
    finally:
        client.cancel([f for f in futures if not f.done()])


def _lost(spec: RunSpec, reason: str) -> RunRecord:
    return RunRecord(key=spec.key, status=RunStatus.FAILED, input=spec.label,
                     reason=" ".join(reason.split()))
