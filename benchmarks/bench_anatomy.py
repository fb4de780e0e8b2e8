"""What naming the coronary segments costs per frame on this CPU, side by side in one run.

Three ways of segmenting the same 512² phantom run (ONNX Runtime fp32, the default CPU path),
timed round-robin (one pass of each, N times) so that load from other jobs falls on all alike:

1. the vessel-only network (cenet-light without a segment head): vessel probabilities;
2. the network with the segment head: vessel probabilities and per-pixel segment classes;
3. as 2, then the names voted among each frame's nearby vessel pixels and over 2K+1 = 5 frames along
   the motion (:func:`AngioSegLib.anatomy.segments.name_vessels`, the optical flow being the
   temporal filter's, which the pipeline computes anyway).

With ``--names``, a second table: how often a listed stenosis is named right on ARCADE's validation
angiograms (a trained model with a segment head, ``--model``). Each image is segmented and named as
`angioseg segment` does (one frame: the vote among nearby pixels only), QCA runs on it, and every
stenosis whose MLD pixel the reference names (a nonzero label within 2 px) counts: right when
``syntax_segment`` is the reference's segment there, wrong when it is another or none.

Weights do not change the network's arithmetic, so the networks are freshly initialised (the
head's cost is the same for the shipped model); the votes run on the phantom's true vessel masks,
as a trained model's would. The table gives the median ms/frame and each row over row 1.

    .venv/bin/python benchmarks/bench_anatomy.py [--repeats 5] [--frames 8] [--threads 2]
        [--names ../shared/data/arcade-syntax/val --model cenet-light --limit 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from AngioSegLib.anatomy.segments import SEGMENT_CLASSES, name_vessels, segment_at
from AngioSegLib.model import LoadedModel, build_network, make_metadata
from AngioSegLib.model.normalise import DEFAULT_NORMALISATION, normalisation_record
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.segment.segmenter import Segmenter
from AngioSegLib.temporal.flow import estimate_flows


def _model(classes: int) -> LoadedModel:
    network = build_network("cenet-light", classes).eval()
    metadata = make_metadata("cenet-light", segment_classes=classes)
    return LoadedModel(network=network, metadata=metadata, name=f"bench-{classes}",
                       version="0", input_spacing_mm=None,
                       normalisation=normalisation_record(DEFAULT_NORMALISATION), path=None)


def naming_accuracy(folder: Path, model: str, limit: int | None, threads: int) -> dict:
    """Stenoses named right / counted on ARCADE-style ``folder`` (images/, labels/)."""
    from AngioSegLib.anatomy.segments import name_analysis
    from AngioSegLib.cine import Calibration, CalibrationSource, CineRun
    from AngioSegLib.evaluation.evaluate import pair_images, read_gray
    from AngioSegLib.qca.measures import analyze_run

    segmenter = Segmenter(model, device="cpu", threads=threads)
    right = wrong = unnamed = images = 0
    for pair in pair_images(folder / "images", folder / "labels")[:limit]:
        frame, reference = read_gray(pair.image), read_gray(pair.mask)
        run = segmenter.segment_run(frame[None])
        masks = (run.probabilities >= 0.5).astype(np.uint8)
        anatomy = name_vessels(run.classes, masks, None, 0)
        cine = CineRun(frames=frame[None], calibration=Calibration(None,
                                                                   CalibrationSource.NONE))
        analysis = name_analysis(analyze_run(cine, run.probabilities, masks), anatomy)
        images += 1
        for stenosis in analysis.stenoses:
            truth = segment_at(reference, *stenosis.position_rc, radius_px=2)
            if truth is None:
                continue
            if stenosis.syntax_segment is None:
                unnamed += 1
            elif stenosis.syntax_segment == truth.syntax:
                right += 1
            else:
                wrong += 1
    return {"images": images, "right": right, "wrong": wrong, "unnamed": unnamed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--names", type=Path, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if args.names is not None:
        counts = naming_accuracy(args.names, args.model, args.limit, args.threads)
        counted = counts["right"] + counts["wrong"] + counts["unnamed"]
        table = Table(title=f"stenoses named on {counts['images']} images of {args.names}")
        for column in ("stenoses on a named reference segment", "named right", "wrong",
                       "no name", "right (%)"):
            table.add_column(column, justify="right")
        table.add_row(str(counted), str(counts["right"]), str(counts["wrong"]),
                      str(counts["unnamed"]),
                      f"{100 * counts['right'] / counted:.1f}" if counted else "–")
        Console().print(table)
        return
    phantom = make_phantom(PhantomOptions(seed=3, n_frames=args.frames, size=512))
    frames, masks = phantom.cine.to_array(), phantom.masks
    with tempfile.TemporaryDirectory() as cache:
        # untrained weights draw vessel everywhere, on which the catheter rule's walk would
        # cost what it never costs on a real frame; it is the same with and without a head
        plain = Segmenter(_model(0), device="cpu", backend="onnx", threads=args.threads,
                          cache_dir=Path(cache), clear_catheters=False)
        named = Segmenter(_model(SEGMENT_CLASSES), device="cpu", backend="onnx",
                          threads=args.threads, cache_dir=Path(cache), clear_catheters=False)
        flows = estimate_flows(frames)

        def vessel_only():
            plain.segment_frames(frames)

        def with_classes():
            named.segment_run(frames)

        def with_names():
            run = named.segment_run(frames)
            name_vessels(run.classes, masks, flows, 2)

        rows = (("vessel-only network", vessel_only), ("+ segment head", with_classes),
                ("+ head, names voted (branches, 5 frames)", with_names))
        for _, work in rows:  # warm-up: ONNX sessions, caches
            work()
        times = {label: [] for label, _ in rows}
        for _ in range(args.repeats):
            for label, work in rows:
                start = time.perf_counter()
                work()
                times[label].append((time.perf_counter() - start) / args.frames)
    base = statistics.median(times[rows[0][0]])
    table = Table(title=f"coronary-segment naming, 512² frames, ORT fp32, {args.threads} "
                        f"threads, median of {args.repeats}")
    for column in ("path", "ms/frame", "× vessel-only"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for label, _ in rows:
        median = statistics.median(times[label])
        table.add_row(label, f"{1000 * median:.0f}", f"{median / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
