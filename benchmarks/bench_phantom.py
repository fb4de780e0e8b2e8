"""Speed of the phantom (``make_phantom``) and of the XA writer (``write_xa``) per transfer syntax.

Target: a 30-frame 512² run in a few seconds on one core. Prints two tables: phantom seconds per
run (median of ``--repeats``) and frames/s for each size; then encode + write seconds, file size
and compression ratio for each transfer syntax on the ``--size`` run.

    .venv/bin/python benchmarks/bench_phantom.py [--size 512] [--frames 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _median_s(function, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> None:
    from AngioSegLib.io.xa_write import TRANSFER_SYNTAXES, write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"make_phantom, {args.frames} frames (median of {args.repeats})")
    print(f"{'size':>6} {'s/run':>8} {'frames/s':>9} {'× 512² time':>12}")
    times = {}
    for size in sorted({128, 256, args.size}):
        options = PhantomOptions(seed=0, n_frames=args.frames, size=size)
        times[size] = _median_s(lambda o=options: make_phantom(o), args.repeats)
    for size, seconds in times.items():
        ratio = seconds / times[args.size]
        print(f"{size:>6} {seconds:>8.2f} {args.frames / seconds:>9.1f} {ratio:>12.2f}")

    run = make_phantom(PhantomOptions(seed=0, n_frames=args.frames, size=args.size))
    raw_bytes = run.cine.frames.nbytes
    print(f"\nwrite_xa, {args.frames} × {args.size}² (median of {args.repeats})")
    print(f"{'syntax':>14} {'s/file':>8} {'MiB':>7} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for syntax in TRANSFER_SYNTAXES:
            path = Path(tmp) / f"{syntax}.dcm"
            seconds = _median_s(
                lambda s=syntax, p=path: write_xa(run.cine, p, s, force=True), args.repeats
            )
            size = path.stat().st_size
            print(f"{syntax:>14} {seconds:>8.2f} {size / 2**20:>7.2f} {raw_bytes / size:>6.2f}")


if __name__ == "__main__":
    main()
