"""Speed and effect of the motion-compensated temporal filter (AngioSegLib.temporal.filter).

Prints four tables:

1. speed on a 512² phantom run, per DIS preset: optical flow ms/frame, warp + weighted average
   ms/frame, total (median of ``--repeats``), for K = 2;
2. chained consecutive flows (what the library does: 2 DIS calls per frame) against direct
   pairs (2K calls per frame): end-point error on the vessels against the phantom's true motion;
3. Dice and flicker on moving phantoms (192², 7.5 frames/s, with and without contrast inflow)
   whose per-frame probabilities are the true masks degraded independently in every frame:
   unfiltered vs plain temporal average vs motion-compensated (three weightings). Flicker is
   ``metrics.temporal_flicker`` with the previous mask moved along the estimated flow, and along
   the phantom's true motion;
4. the real cines of ``../shared/data/xa`` (skipped when absent), with Sato vesselness standing in
   for the network: flicker and vessel area, unfiltered vs filtered.

    .venv/bin/python benchmarks/bench_temporal.py [--frames 24] [--repeats 5] [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Testing"))  # the phantom degradation and vesselness helpers

from test_temporal import (  # noqa: E402
    mean_dice,
    noisy_probabilities,
    true_displacement,
    vesselness_probabilities,
    warp_true,
)

from AngioSegLib.evaluation.metrics import temporal_flicker  # noqa: E402
from AngioSegLib.temporal.filter import (  # noqa: E402
    TemporalOptions,
    estimate_flows,
    filter_probabilities,
    warp_previous_onto_current,
)

SHARED_XA = ROOT.parent / "shared" / "data" / "xa"


def _median_s(function, repeats: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of ``function()`` over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def speed_table(n_frames: int, repeats: int) -> None:
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=0, n_frames=n_frames, size=512))
    frames = run.cine.frames
    probs = noisy_probabilities(run.masks, seed=1)
    print(f"\n1. Speed, {n_frames} frames of 512², K = 2, flow on 256², median of {repeats}: "
          "wall ms per frame (process CPU ms per frame)")
    print(f"{'preset':10} {'weights':12} {'flow':>14} {'warp+average':>14} {'total':>14}")

    def cell(wall_s: float, cpu_s: float) -> str:
        return f"{1e3 * wall_s / n_frames:6.1f} ({1e3 * cpu_s / n_frames:5.1f})"

    for preset in ("ultrafast", "fast", "medium"):
        flows = estimate_flows(frames, preset)
        flow = _median_s(lambda p=preset: estimate_flows(frames, p), repeats)
        for weights in ("uniform", "reliability"):
            options = TemporalOptions(flow_preset=preset, weights=weights)
            warp = _median_s(
                lambda o=options, f=flows: filter_probabilities(probs, frames, o, flows=f),
                repeats,
            )
            total = (flow[0] + warp[0], flow[1] + warp[1])
            print(f"{preset:10} {weights:12} {cell(*flow)} {cell(*warp)} {cell(*total)}")
    plain = _median_s(
        lambda: filter_probabilities(
            probs, frames, TemporalOptions(motion_compensation=False, weights="uniform")
        ),
        repeats,
    )
    print(f"{'(none)':10} {'plain avg':12} {cell(0.0, 0.0)} {cell(*plain)} {cell(*plain)}")


def chained_vs_direct_table(n_frames: int) -> None:
    import cv2

    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
    from AngioSegLib.temporal.flow import flow_grey_levels, flow_shape_for

    run = make_phantom(PhantomOptions(seed=0, n_frames=n_frames, size=512, contrast_inflow=False))
    frames, masks, moves = run.cine.frames, run.masks, run.displacement
    flow_shape = flow_shape_for(frames.shape[1:])
    small = [flow_grey_levels(f, flow_shape) for f in frames]
    print("\n2. Chained vs direct flows, 512² phantom (no inflow): mean end-point error on the "
          "vessels (px)")
    print(f"{'preset':10} {'mode':8} {'DIS calls/fr':>12} {'|l|=1':>7} {'|l|=2':>7} "
          f"{'flow ms/fr':>10}")
    pairs = [(k, k + s * lag) for k in range(2, n_frames - 2) for s in (-1, 1) for lag in (1, 2)]
    truth = {p: true_displacement(moves, *p) for p in pairs}
    vessels = {k: masks[k] > 0 for k in range(n_frames)}
    motion = {lag: np.mean([np.linalg.norm(truth[p], axis=-1)[vessels[p[0]]].mean()
                            for p in pairs if abs(p[1] - p[0]) == lag]) for lag in (1, 2)}
    start = time.perf_counter()
    with_clahe = estimate_flows(frames, clahe=True)
    clahe_ms = 1e3 * (time.perf_counter() - start) / n_frames
    for preset, code in (("ultrafast", 0), ("fast", 1), ("medium", 2)):
        start = time.perf_counter()
        chained = estimate_flows(frames, preset)
        chained_ms = 1e3 * (time.perf_counter() - start) / n_frames
        dis = cv2.DISOpticalFlow_create(code)
        scale = frames.shape[1] / flow_shape[0]

        def direct(k: int, j: int, dis=dis, scale=scale) -> np.ndarray:
            flow = cv2.resize(dis.calc(small[k], small[j], None), frames.shape[1:][::-1])
            return flow[..., ::-1] * scale

        start = time.perf_counter()
        direct_flows = {p: direct(*p) for p in pairs}
        direct_ms = 1e3 * (time.perf_counter() - start) / (n_frames - 4)
        modes = [
            ("chained", chained.displacement, 2, chained_ms),
            ("direct", lambda k, j, found=direct_flows: found[(k, j)], 4, direct_ms),
        ]
        if preset == "medium":
            modes.append(("CLAHE", with_clahe.displacement, 2, clahe_ms))
        for mode, get, calls, ms in modes:
            error = {
                lag: np.mean([
                    np.linalg.norm(get(*p) - truth[p], axis=-1)[vessels[p[0]]].mean()
                    for p in pairs if abs(p[1] - p[0]) == lag
                ])
                for lag in (1, 2)
            }
            print(f"{preset:10} {mode:8} {calls:12d} {error[1]:7.2f} {error[2]:7.2f} {ms:10.1f}")
    print(f"mean true motion on the vessels: |l|=1 {motion[1]:.2f} px, |l|=2 {motion[2]:.2f} px")


def phantom_table(seeds: tuple[int, ...]) -> None:
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    methods = {
        "unfiltered": None,
        "plain average": TemporalOptions(motion_compensation=False, weights="uniform"),
        "MC uniform": TemporalOptions(weights="uniform"),
        "MC gaussian": TemporalOptions(weights="gaussian"),
        "MC reliability": TemporalOptions(weights="reliability"),
    }
    for inflow in (False, True):
        rows: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in methods}
        for seed in seeds:
            run = make_phantom(PhantomOptions(seed=seed, n_frames=10, size=192, fps=7.5,
                                              contrast_inflow=inflow))
            frames, truth = run.cine.frames, run.masks
            probs = noisy_probabilities(truth, seed=seed + 10)
            flows = estimate_flows(frames)
            moves = [true_displacement(run.displacement, t, t - 1) for t in range(1, len(truth))]
            for name, options in methods.items():
                masks = (probs >= 0.5).astype(np.uint8) if options is None else (
                    filter_probabilities(probs, frames, options, flows=flows).masks)
                true_previous = np.stack([warp_true(m, d) for m, d in zip(masks[:-1], moves,
                                                                            strict=True)])
                rows[name].append((
                    mean_dice(masks, truth),
                    temporal_flicker(masks, warp_previous_onto_current(masks, flows)),
                    temporal_flicker(masks, true_previous),
                    masks.sum() / truth.sum(),
                ))
        label = "with contrast inflow" if inflow else "no inflow"
        print(f"\n3. Phantoms 192², 10 frames, 7.5 frames/s, {label}, K = 2, seeds {seeds} "
              "(means)")
        print(f"{'method':16} {'Dice':>6} {'flicker (est. flow)':>20} {'flicker (true motion)':>22}"
              f" {'area/truth':>11}")
        base = np.mean(rows["unfiltered"], axis=0)
        for name, values in rows.items():
            d, f_est, f_true, area = np.mean(values, axis=0)
            print(f"{name:16} {d:6.3f} {f_est:11.3f} ({f_est / base[1] - 1:+5.0%}) "
                  f"{f_true:13.3f} ({f_true / base[2] - 1:+5.0%}) {area:11.3f}")


def real_table() -> None:
    if not SHARED_XA.is_dir():
        print(f"\n4. Real cines: {SHARED_XA} is absent, skipped")
        return
    from AngioSegLib.io import read_cine

    print("\n4. Real cines, Sato vesselness probabilities (p = 0.5 at the 94th percentile), "
          "K = 2, default options")
    print(f"{'run':32} {'method':16} {'flicker':>8} {'change':>7} {'vessel area':>12} "
          f"{'change':>7} {'ms/frame':>9}")
    for name in ("rubo_rca_96f.dcm", "barre_catheter_12f.dcm"):
        path = SHARED_XA / name
        if not path.is_file():
            continue
        frames = read_cine(path).to_array()
        probs = vesselness_probabilities(frames)
        raw = (probs >= 0.5).astype(np.uint8)
        start = time.perf_counter()
        result = filter_probabilities(probs, frames)
        ms = 1e3 * (time.perf_counter() - start) / len(frames)
        flows = result.flows
        base_flicker = temporal_flicker(raw, warp_previous_onto_current(raw, flows))
        rows = [("unfiltered", raw, ""), ("MC reliability", result.masks, f"{ms:9.1f}")]
        for weights in ("uniform", "gaussian"):
            rows.append((f"MC {weights}", filter_probabilities(
                probs, frames, TemporalOptions(weights=weights), flows=flows).masks, ""))
        rows.append(("plain average", filter_probabilities(
            probs, frames, TemporalOptions(motion_compensation=False, weights="uniform")).masks,
            ""))
        for method, masks, timing in rows:
            flicker = temporal_flicker(masks, warp_previous_onto_current(masks, flows))
            print(f"{name + f' ({len(frames)} fr)':32} {method:16} {flicker:8.3f} "
                  f"{flicker / base_flicker - 1:+7.0%} {masks.mean():12.4f} "
                  f"{masks.sum() / raw.sum() - 1:+7.1%} {timing:>9}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="cv2.setNumThreads (0: OpenCV's default)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "flows", "phantom",
                                                                   "real"])
    args = parser.parse_args(argv)
    import cv2

    if args.threads:
        cv2.setNumThreads(args.threads)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    if "speed" not in args.skip:
        speed_table(args.frames, args.repeats)
    if "flows" not in args.skip:
        chained_vs_direct_table(min(args.frames, 12))
    if "phantom" not in args.skip:
        phantom_table((0, 1, 2))
    if "real" not in args.skip:
        real_table()


if __name__ == "__main__":
    main()
