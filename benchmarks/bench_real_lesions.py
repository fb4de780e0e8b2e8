"""The stenoses QCA lists on real angiograms without stenosis labels, counted and shown.

ARCADE's images carry no stenosis marks, so precision on them is judged by eye. This bench makes
that repeatable: every image of ``--images`` (an ARCADE-style folder: images/, labels/) is
segmented with ``--model``, QCA runs on it as `angioseg segment` does on a one-frame run, and the
listed stenoses are counted by severity (≥ 30 and ≥ 50 %DS) and by reference (two-sided,
interpolated, or one-sided at a branch's ostium), with the share that lies on an expert-labelled
vessel (a nonzero reference label within 3 px of the MLD pixel: a lower bound of precision, as the
labels cover the main segments only). ``--gallery`` draws a crop around each lesion of at least
``--gallery-min`` %DS (segmentation outline in blue, MLD in red) to look at; ``--json`` keeps the
lesion list, and ``--against`` an earlier one prints what a change to QCA added and removed.

The network's probabilities are cached (``--cache``, float16) so that QCA changes are compared
on the same segmentation in seconds per image.

    .venv/bin/python benchmarks/bench_real_lesions.py --images ../shared/data/arcade-syntax/val
        [--model cenet-light] [--limit 200] [--cache /tmp/probs.npz] [--json lesions.json]
        [--against before.json] [--gallery lesions.png --gallery-min 50]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from AngioSegLib.anatomy.segments import segment_at
from AngioSegLib.cine import Calibration, CalibrationSource, CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.io.datasets import pair_images
from AngioSegLib.io.images import read_grey
from AngioSegLib.qca.measures import analyze_run
from AngioSegLib.qca.profile_analysis import INTERPOLATED
from AngioSegLib.segment.segmenter import Segmenter

ON_VESSEL_RADIUS_PX = 3


@dataclass(frozen=True)
class Lesion:
    """One listed stenosis: ``image`` (file stem), MLD pixel (``row``, ``col``), %DS (0–100),
    ``two_sided`` (interpolated reference), ``on_labelled`` (an expert label within 3 px),
    ``through_bridge`` (where the segmentation broke and QCA bridged it)."""

    image: str
    row: float
    col: float
    percent_ds: float
    two_sided: bool
    on_labelled: bool
    through_bridge: bool = False

    def key(self) -> tuple[str, int, int]:
        """Identity across two runs: the image and the MLD pixel to 4 px."""
        return self.image, int(round(self.row / 4)), int(round(self.col / 4))


MODEL_KEY = "__model__"  # the cache's entry naming the model its probabilities came from


def probabilities_of(pairs, model: str, threads: int, cache: Path | None) -> dict[str, np.ndarray]:
    """Each image's vessel probability (H, W) by stem, from ``cache`` where it holds them all
    for ``model`` (else computed, and the cache rewritten)."""
    if cache is not None and cache.exists():
        stored = dict(np.load(cache))
        if str(stored.get(MODEL_KEY, "")) == model and all(
                pair.image.stem in stored for pair in pairs):
            return {pair.image.stem: stored[pair.image.stem].astype(np.float32) for pair in pairs}
    segmenter = Segmenter(model, device="cpu", threads=threads)
    found = {pair.image.stem: segmenter.segment_frames(read_grey(pair.image)[None])[0]
             for pair in pairs}
    if cache is not None:
        np.savez_compressed(cache, **{k: v.astype(np.float16) for k, v in found.items()},
                            **{MODEL_KEY: np.array(model)})
    return found


def lesions_of(pair, probability: np.ndarray) -> list[Lesion]:
    """The stenoses QCA lists on one image (pixel units: ARCADE has no calibration)."""
    frame, reference = read_grey(pair.image), read_grey(pair.mask)
    mask = (probability >= 0.5).astype(np.uint8)[None]
    cine = CineRun(frames=frame[None], calibration=Calibration(None, CalibrationSource.NONE))
    analysis = analyze_run(cine, probability[None], mask)
    found = []
    for stenosis in analysis.stenoses:
        row, col = stenosis.position_rc
        labelled = segment_at(reference, row, col, radius_px=ON_VESSEL_RADIUS_PX) is not None
        found.append(Lesion(pair.image.stem, float(row), float(col),
                            float(stenosis.percent_diameter_stenosis),
                            stenosis.reference_method == INTERPOLATED, labelled,
                            stenosis.through_bridge))
    return found


def count_table(lesions: list[Lesion], images: int) -> Table:
    """Listed stenoses by severity and reference, with the share on an expert-labelled vessel."""
    table = Table(title=f"stenoses listed on {images} real angiograms")
    for column in ("%DS", "listed", "two-sided", "ostial", "through a bridge",
                   "on a labelled vessel (%)"):
        table.add_column(column, justify="right")
    for floor in (30, 50):
        chosen = [lesion for lesion in lesions if lesion.percent_ds >= floor]
        two = sum(lesion.two_sided for lesion in chosen)
        share = 100 * np.mean([lesion.on_labelled for lesion in chosen]) if chosen else 0.0
        bridged = sum(lesion.through_bridge for lesion in chosen)
        table.add_row(f"≥ {floor}", str(len(chosen)), str(two), str(len(chosen) - two),
                      str(bridged), f"{share:.0f}")
    return table


def print_changes(lesions: list[Lesion], before: list[Lesion], floor: float) -> None:
    """How many lesions of at least ``floor`` %DS a change added and removed."""
    now = {lesion.key(): lesion for lesion in lesions if lesion.percent_ds >= floor}
    old = {lesion.key(): lesion for lesion in before if lesion.percent_ds >= floor}
    added = [now[key] for key in now.keys() - old.keys()]
    removed = [old[key] for key in old.keys() - now.keys()]
    Console().print(f"≥ {floor:.0f} %DS: {len(old)} → {len(now)}; added {len(added)} "
                    f"({sum(x.on_labelled for x in added)} on a labelled vessel), removed "
                    f"{len(removed)} ({sum(x.on_labelled for x in removed)} on one)")


def draw_gallery(lesions: list[Lesion], pairs, probabilities, path: Path, crop: int = 128) -> None:
    """A grid of crops (``crop`` px) around ``lesions``, titled with the image and %DS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_stem = {pair.image.stem: pair for pair in pairs}
    columns = 6
    rows = max(1, -(-len(lesions) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.3 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, lesion in zip(axes.flat, lesions, strict=False):
        frame = read_grey(by_stem[lesion.image].image)
        half = crop // 2
        r0 = int(np.clip(round(lesion.row) - half, 0, frame.shape[0] - crop))
        c0 = int(np.clip(round(lesion.col) - half, 0, frame.shape[1] - crop))
        window = (slice(r0, r0 + crop), slice(c0, c0 + crop))
        axis.imshow(frame[window], cmap="gray")
        axis.contour(probabilities[lesion.image][window], levels=[0.5], colors="tab:blue",
                     linewidths=0.6)
        axis.plot(lesion.col - c0, lesion.row - r0, "r+", markersize=9)
        side = "2" if lesion.two_sided else "o"
        axis.set_title(f"{lesion.image} {lesion.percent_ds:.0f}% {side}", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--model", default="cenet-light")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--against", type=Path, default=None)
    parser.add_argument("--gallery", type=Path, default=None)
    parser.add_argument("--gallery-min", type=float, default=50.0)
    args = parser.parse_args()
    if not (args.images / "images").is_dir() or not (args.images / "labels").is_dir():
        parser.error(f"{args.images} needs images/ and labels/ folders (ARCADE's layout)")
    if args.against is not None and not args.against.is_file():
        parser.error(f"--against {args.against}: no such file (write one with --json)")
    try:
        pairs = pair_images(args.images / "images", args.images / "labels")[:args.limit]
    except InputError as error:
        parser.error(str(error))
    probabilities = probabilities_of(pairs, args.model, args.threads, args.cache)
    lesions = [lesion for pair in pairs
               for lesion in lesions_of(pair, probabilities[pair.image.stem])]
    Console().print(count_table(lesions, len(pairs)))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(lesion) for lesion in lesions], indent=1))
    if args.against is not None:
        before = [Lesion(**item) for item in json.loads(args.against.read_text())]
        for floor in (30, 50):
            print_changes(lesions, before, floor)
    if args.gallery is not None:
        shown = [lesion for lesion in lesions if lesion.percent_ds >= args.gallery_min]
        draw_gallery(shown, pairs, probabilities, args.gallery)


if __name__ == "__main__":
    main()
