"""Peak memory (RSS) of `angioseg segment` against the number of frames, at one frame size.

Usage: .venv/bin/python benchmarks/bench_memory.py [--frames 30,60,120,200 --size 1024
       --plot peak_rss.png --root OTHER_CHECKOUT --label streaming]

Each run is a phantom XA written first, then `angioseg segment --device cpu` in a fresh process
whose peak resident set size the kernel reports (``ru_maxrss`` of a wrapper's only child). Prints
a table: frames, peak RSS (GB), wall time (s), and the memory per added frame fitted between the
smallest and the largest run (MB/frame); ``--plot`` also draws peak RSS against frames.
``--root`` measures another checkout of AngioSeg (e.g. a ``git worktree`` of an earlier commit)
with this script, for a before/after table.

Since the pipeline streams over the frames (:mod:`AngioSegLib.pipeline_stream`), peak RSS is the
model and the window of 2K+1 frames plus about 1 MB per 1024² frame (the masks, and the outputs
written from them); the filtered probabilities go to a temporary file (4 MB per 1024² frame in
``TMPDIR``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# a wrapper whose only child is the measured command: its RUSAGE_CHILDREN peak is that child's
_WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")


def peak_rss_kb(command: list[str], root: Path = ROOT) -> tuple[int, int, float]:
    """(peak RSS in kB, exit code, wall s) of ``command`` run in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    start = time.perf_counter()
    done = subprocess.run([PYTHON, "-c", _WRAPPER, *command], capture_output=True, text=True,
                          env=env, cwd=root, check=True)
    kb, code = (int(v) for v in done.stdout.split())
    return kb, code, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="30,60,120,200")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--plot", type=Path, default=None, help="also save a PNG plot here")
    parser.add_argument("--root", type=Path, default=ROOT, help="the AngioSeg checkout to measure")
    parser.add_argument("--label", default="streaming", help="the plot's legend for this run")
    args = parser.parse_args()
    root = args.root.resolve()
    counts = [int(n) for n in args.frames.split(",")]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for frames in counts:
            source = Path(tmp) / f"run{frames}.dcm"
            subprocess.run([PYTHON, "-m", "AngioSegLib", "phantom", "-o", str(source),
                            "--frames", str(frames), "--size", str(args.size)], check=True,
                           cwd=root, stdout=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(root)})
            kb, code, wall = peak_rss_kb([PYTHON, "-m", "AngioSegLib", "segment", str(source),
                                          "-o", str(Path(tmp) / f"out{frames}"),
                                          "--device", "cpu"], root)
            rows.append((frames, kb / 1e6, wall, code))
            source.unlink()
            print(f"  {frames} frames: {kb / 1e6:.2f} GB, {wall:.0f} s, exit {code}",
                  file=sys.stderr)
    print(f"`angioseg segment --device cpu` ({root}), phantom {args.size}² 16-bit, CPU; peak RSS "
          "of the process")
    print(f"{'frames':>7}{'peak RSS GB':>13}{'wall s':>9}{'exit':>6}")
    for frames, gb, wall, code in rows:
        print(f"{frames:>7}{gb:>13.2f}{wall:>9.0f}{code:>6}")
    if len(rows) > 1:
        (f0, g0, *_), (f1, g1, *_) = rows[0], rows[-1]
        print(f"growth {1000 * (g1 - g0) / (f1 - f0):.1f} MB per frame "
              f"(raw frames alone: {2 * args.size ** 2 / 1e6:.1f} MB per frame)")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(5, 3.5))
        axes.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label=args.label)
        axes.set_xlabel("frames")
        axes.set_ylabel("peak RSS (GB)")
        axes.set_title(f"angioseg segment, {args.size}² CPU")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
