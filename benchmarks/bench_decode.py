"""Decode speed of the XA reader for each transfer syntax the XA writer supports.

A phantom run (default 512², 32 frames) is written with ``write_xa`` into a temporary folder once
per transfer syntax; each repeat then opens it with ``read_cine`` and decodes every frame (the
lazy, frame-at-a-time path that the pipeline uses). Prints one table: file size, compression
ratio, the largest pixel error (in the decoded bit depth), decoded frames/s (median of
``--repeats``), speed relative to the first (uncompressed) file, and the same for pydicom's
sequential ``iter_pixels`` as a reference for the per-frame overhead.

    .venv/bin/python benchmarks/bench_decode.py [--size 512] [--frames 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _frames_per_s(function, n_frames: int, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return n_frames / statistics.median(seconds)


def _read_all(path: Path) -> np.ndarray:
    from AngioSegLib.io import read_cine

    cine = read_cine(path)
    last = None
    for frame in cine.iter_frames():
        last = frame
    return last


def _iter_pixels(path: Path) -> None:
    from pydicom.pixels import iter_pixels

    for _ in iter_pixels(path):
        pass


def main(argv: list[str] | None = None) -> None:
    from AngioSegLib.io import read_cine
    from AngioSegLib.io.xa_write import TRANSFER_SYNTAXES, write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    phantom = make_phantom(PhantomOptions(seed=0, n_frames=args.frames, size=args.size))
    truth = phantom.cine.to_array()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for syntax in TRANSFER_SYNTAXES:
            path = write_xa(phantom.cine, Path(tmp) / f"{syntax}.dcm", transfer_syntax=syntax)
            cine = read_cine(path)
            expected = truth >> (phantom.cine.bits_stored - cine.bits_stored)  # 8-bit writers
            error = int(np.abs(cine.to_array().astype(np.int64) - expected).max())
            rows.append(
                (
                    syntax,
                    cine.transfer_syntax,
                    path.stat().st_size / 2**20,
                    truth.nbytes / path.stat().st_size,
                    error,
                    _frames_per_s(lambda p=path: _read_all(p), args.frames, args.repeats),
                    _frames_per_s(lambda p=path: _iter_pixels(p), args.frames, args.repeats),
                )
            )
    base = rows[0][5]
    print(
        f"read_cine decode, {args.frames} frames {args.size}², {truth.dtype} "
        f"({phantom.cine.bits_stored} bits stored), median of {args.repeats}"
    )
    header = (
        f"{'writer name':<14} {'transfer syntax':<48} {'MB':>6} {'ratio':>6} {'max err':>7} "
        f"{'frames/s':>9} {'vs first':>8} {'iter_pixels/s':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, uid_name, mb, ratio, error, fps, reference in rows:
        print(
            f"{name:<14} {uid_name[:48]:<48} {mb:6.2f} {ratio:6.1f} {error:7d} {fps:9.1f} "
            f"{fps / base:8.2f} {reference:13.1f}"
        )


if __name__ == "__main__":
    main()
