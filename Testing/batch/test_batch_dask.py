"""`angioseg batch` on a real Dask cluster: a worker killed mid-run has its run done again."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from test_batch import write_phantom_run

pytestmark = pytest.mark.slow

KILL_WAIT_S = 600  # the killer gives up after this (s); the batch ending stops it sooner


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("dask-runs")
    return [write_phantom_run(root / f"run{seed}.dcm", seed) for seed in range(10, 14)]


@pytest.fixture()
def cluster():
    """Two worker processes (one task each at a time), as `angioseg batch --workers 2` makes."""
    from AngioSegLib.batch.scale_out import local_cluster

    with local_cluster(2, silence_logs=logging.CRITICAL) as cluster:
        yield cluster


class _Killer(threading.Thread):
    """SIGKILLs the worker of the first batch task seen running (T1) once, then the worker of
    another task (T2) each time T2 is seen running, twice: T1 must be retried and succeed, T2
    retried once and then recorded as failed."""

    def __init__(self, address: str):
        super().__init__(daemon=True)
        self.address = address
        self.kills: list[tuple[str, int]] = []  # (task key, pid)
        self.stop = threading.Event()

    def run(self) -> None:
        from distributed import Client

        with Client(self.address) as client:
            pids: dict[str, int] = {}
            deadline = time.monotonic() + KILL_WAIT_S
            while not self.stop.is_set() and time.monotonic() < deadline and len(self.kills) < 3:
                for worker, tasks in client.processing().items():
                    for task in (str(t) for t in tasks if str(t).startswith("angioseg-run-")):
                        if worker not in pids:
                            pids.update(client.run(os.getpid, workers=[worker]))
                        if self._should_kill(task, pids.get(worker)):
                            self.kills.append((task, pids[worker]))
                            os.kill(pids[worker], signal.SIGKILL)
                time.sleep(0.05)

    def _should_kill(self, task: str, pid: int | None) -> bool:
        if pid is None or pid in {killed for _, killed in self.kills}:
            return False  # a dead worker the scheduler has not yet noticed
        if not self.kills:
            return True
        if len(self.kills) == 1:
            return task != self.kills[0][0]
        return task == self.kills[1][0]

    @property
    def retried(self) -> str:
        return self.kills[0][0]

    @property
    def failed(self) -> str:
        return self.kills[1][0]


def _record_of(records, task: str):
    (record,) = [r for r in records if task.startswith(f"angioseg-run-{r.key}-")]
    return record


def test_a_killed_worker_has_its_run_retried_once(tmp_path, cluster, four_runs):
    from AngioSegLib.batch import BatchOptions, RunStatus, run_batch
    from AngioSegLib.outputs.writers import OutputOptions
    from AngioSegLib.pipeline import PipelineOptions
    from AngioSegLib.segment.options import InferenceOptions

    killer = _Killer(cluster.scheduler_address)
    killer.start()
    out = tmp_path / "out"
    options = BatchOptions(output=out, scheduler=cluster.scheduler_address,
                           pipeline=PipelineOptions(inference=InferenceOptions(device="cpu")),
                           outputs=OutputOptions(video=False, report=False))
    try:
        result = run_batch(four_runs, options)
    finally:
        killer.stop.set()
        killer.join()
    assert len(killer.kills) == 3, killer.kills
    retried, failed = _record_of(result.records, killer.retried), _record_of(
        result.records, killer.failed)
    assert retried.status == RunStatus.OK, retried.reason
    assert not retried.worker.endswith(f":{killer.kills[0][1]}"), "not run again elsewhere"
    assert (out / retried.key / "batch-complete.json").is_file()
    assert failed.status == RunStatus.FAILED
    assert failed.reason == ("the worker running it died 2 times (killed or out of memory); "
                             "run it alone with --resume")
    assert not (out / failed.key).exists()
    others = [r for r in result.records if r not in (retried, failed)]
    assert [r.status for r in others] == [RunStatus.OK] * 2, [r.reason for r in others]
    assert not result.all_succeeded
    assert not [p for p in out.iterdir() if p.is_dir() and p.name.startswith(".")], \
        "a killed run's staging is left"


def test_cli_batch_on_a_local_cluster(tmp_path, capsys, four_runs):
    from cli_helpers import run_cli

    from AngioSegLib.batch.summary import read_summary

    out = tmp_path / "out"
    code, _, err = run_cli(["batch", str(four_runs[0]), "-o", str(out), "--workers", "1",
                            "--device", "cpu", "--no-video", "--no-report", "--quiet"], capsys)
    assert code == 0, err
    (row,) = read_summary(out)
    assert row["status"] == "ok" and row["worker"].split(":")[-1] != str(os.getpid())
    summary = (out / "summary.json").read_text()
    assert '"engine": "dask"' in summary and '"workers": 1' in summary
