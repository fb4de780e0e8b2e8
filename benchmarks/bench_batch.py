"""Runs/hour of `angioseg batch` (this process, Dask 1 and 2 workers, a process pool) against a
shell loop of `angioseg segment`, on the same phantom runs, side by side.

Usage: .venv/bin/python benchmarks/bench_batch.py [--runs 12 --frames 8 --size 128 --repeats 1]

Each way is timed from outside as a fresh process (start-up, imports, model loads, cluster start
included: what a user waits for). Prints one table: wall time (median of the repeats), runs/hour,
the median per-run time the summary records (inside a worker, model load excluded), and the ratio
to the shell loop; then the Dask overhead against a plain process pool at 1 worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
ANGIOSEG = [PYTHON, "-m", "AngioSegLib"]
WAYS = {"shell": "shell loop", "process": "batch, this process", "dask1": "batch, Dask 1 worker",
        "dask2": "batch, Dask 2 workers", "pool1": "batch, process pool 1"}


def make_runs(folder: Path, runs: int, frames: int, size: int) -> list[Path]:
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    folder.mkdir(parents=True)
    return [write_xa(make_phantom(PhantomOptions(seed=100 + i, n_frames=frames, size=size)).cine,
                     folder / f"run{i:02d}.dcm") for i in range(runs)]


def _timed(command: list[str], ok_codes: tuple[int, ...] = (0,)) -> float:
    """Wall time (s) of ``command``; stops the benchmark when it fails (a time of nothing)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in ok_codes:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise SystemExit(f"{' '.join(command[:4])} … exited {done.returncode}: {tail[0]}")
    return time.perf_counter() - start


def run_way(way: str, runs: list[Path], out: Path) -> float:
    """Wall time (s) of one way over ``runs``, writing under ``out``."""
    common = ["--device", "cpu"]
    if way == "shell":
        out.mkdir()
        start = time.perf_counter()
        for i, path in enumerate(runs):
            _timed([*ANGIOSEG, "segment", str(path), "-o", str(out / f"r{i}"), *common])
        return time.perf_counter() - start
    if way == "pool1":  # no CLI flag: the library's baseline engine
        code = ("import sys; from pathlib import Path; from AngioSegLib.batch import "
                "BatchOptions, run_batch; from AngioSegLib.pipeline import PipelineOptions; "
                "from AngioSegLib.segment.options import InferenceOptions; "
                "run_batch([Path(sys.argv[1])], BatchOptions(output=Path(sys.argv[2]), "
                "engine='pool', workers=1, "
                "pipeline=PipelineOptions(inference=InferenceOptions(device='cpu'))))")
        return _timed([PYTHON, "-c", code, str(runs[0].parent), str(out)])
    extra = {"process": [], "dask1": ["--workers", "1"], "dask2": ["--workers", "2"]}[way]
    return _timed([*ANGIOSEG, "batch", str(runs[0].parent), "-o", str(out), "--quiet",
                   *common, *extra])


def median_run_s(out: Path) -> float | None:
    """The median per-run time the batch's summary records (s)."""
    from AngioSegLib.batch.summary import read_summary

    if not (out / "summary.csv").is_file():
        return None
    totals = [float(r["total_s"]) for r in read_summary(out) if r["status"] == "ok"]
    return statistics.median(totals) if totals else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ways", default=",".join(WAYS),
                        help=f"comma-separated subset of {', '.join(WAYS)}")
    args = parser.parse_args()
    ways = [w.strip() for w in args.ways.split(",")]

    walls: dict[str, list[float]] = {w: [] for w in ways}
    per_run: dict[str, list[float]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory() as tmp:
        runs = make_runs(Path(tmp) / "runs", args.runs, args.frames, args.size)
        _timed([*ANGIOSEG, "segment", str(runs[0]), "-o", str(Path(tmp) / "warm"),
                "--device", "cpu"])  # ONNX cache and disk cache warm for every way
        for repeat in range(args.repeats):
            for way in ways:
                out = Path(tmp) / f"out-{repeat}-{ways.index(way)}"
                walls[way].append(run_way(way, runs, out))
                median = median_run_s(out)
                if median is not None:
                    per_run[way].append(median)
                shutil.rmtree(out, ignore_errors=True)

    wall = {w: statistics.median(v) for w, v in walls.items()}
    base = wall.get("shell")
    print(f"{args.runs} phantom runs of {args.frames} frames {args.size}², CPU "
          f"({os.cpu_count()} cores), median of {args.repeats}; each way a fresh process")
    print(f"{'way':<24}{'wall s':>9}{'runs/hour':>11}{'per run s':>11}{'× shell loop':>14}")
    for way in ways:
        runs_hour = args.runs / wall[way] * 3600
        inside = f"{statistics.median(per_run[way]):.2f}" if per_run[way] else "–"
        ratio = f"{base / wall[way]:.2f}" if base else "–"
        print(f"{WAYS[way]:<24}{wall[way]:>9.1f}{runs_hour:>11.0f}{inside:>11}{ratio:>14}")
    dask, pool = wall.get("dask1"), wall.get("pool1")
    if dask and pool:
        print(f"Dask overhead at 1 worker against a process pool: {dask - pool:+.1f} s "
              f"({dask / pool:.2f}×, {(dask - pool) / args.runs:+.2f} s per run)")


if __name__ == "__main__":
    main()
