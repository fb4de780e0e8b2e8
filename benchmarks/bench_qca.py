"""QCA accuracy on phantoms with known truth: MLD, %DS, RVD, segment length, catheter calibration.

For each seed and pixel spacing a left-tree phantom is made with two planted lesions (LAD and LCx,
percent diameter drawn in 30–80 %, length 4–8 mm) and measured with ``measure_segments`` on one
frame. Probabilities come from ``--probabilities-from``:

* ``mask``: the ground-truth mask itself (binary);
* ``blurred``: the mask blurred with a Gaussian of σ 0.7 px (a smooth, calibrated probability);
* ``network``: what the shipped network does, simulated: the true mask 0.2 mm too wide and lost
  where the true lumen is under 0.5 mm (broken at tight lesions), blurred (σ 0.7 px);
* ``model``: the shipped Segmenter on the rendered frame (needs a trained model).

``--config before`` runs the 0.3 QCA (borders on the probability map, no bridging, no overlap or
on-vessel checks); ``after`` (default) the current one (borders on the frame, bridged breaks,
overlap left out, lesions on vessels only).

The frame itself (noisy) goes to QCA too, for the densitometric MLD (``--mld-method``).

"no bifurc." rows leave out lesions with a side-branch origin within half the lesion length + 2 mm
of their centre (bifurcation lesions, where a cross-section includes the branch's origin). A
planted lesion is *found* when the stenosis list (what a user reads: interpolated reference,
%DS ≥ 20, up to 3 lesions per segment) has one whose MLD lies within half a lesion length (+1 mm)
of it; errors (measured − true) are those of that listed stenosis. Segment lengths: every
analysis segment of ≥ 5 mm that follows one true branch (no bifurcation crossed) is compared,
between two interior points max(2 mm, 1.5 diameters) from its ends, with the true arc between
their projections. Lesion length: the listed stretch narrower than 80 % of the reference
against the planted raised cosine's ``L·acos(2·0.2/p − 1)/π``.
False positives: listed stenoses (%DS ≥ 20) more than 3 mm from any planted lesion. The catheter
row measures the phantom's 6 F catheter ("along" mode, two points 4 mm apart on it) on the noisy
frame.

    .venv/bin/python benchmarks/bench_qca.py [--seeds 8] [--first-seed 0] [--spacings 0.15 0.2 0.3]
        [--probabilities-from mask blurred model] [--size 384] [--diameter-method integral]
        [--mld-method densitometric] [--model cenet-light] [--lesions] [--config before after]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def _phantom(seed: int, spacing: float, size: int):
    from AngioSegLib.phantom.generator import PhantomOptions, StenosisSpec, make_phantom

    rng = np.random.default_rng([seed, 7])
    specs = (StenosisSpec("LAD", float(rng.uniform(30, 80)), float(rng.uniform(4, 8)), 0.40),
             StenosisSpec("LCx", float(rng.uniform(30, 80)), float(rng.uniform(4, 8)), 0.45))
    return make_phantom(PhantomOptions(seed=seed, n_frames=1, size=size, mm_per_pixel=spacing,
                                       motion=False, contrast_inflow=False,
                                       stenoses=specs))


NETWORK_WIDENING_MM = 0.2  # total, as measured on the shipped network (cenet-light 0.3.0)
NETWORK_BREAK_MM = 0.5  # it loses lumens narrower than this


def _network(run, spacing: float) -> np.ndarray:
    """The simulated network's probability: widened, broken at tight lumens (see above)."""
    mask = run.masks[0].astype(bool)
    lost = np.zeros(mask.shape, bool)
    for line in run.centerlines[0]:
        thin = line.points_rc[2.0 * line.radius_mm < NETWORK_BREAK_MM]
        r, c = np.clip(np.round(thin).astype(int), 0, np.array(mask.shape) - 1).T
        lost[r, c] = True
    if lost.any():
        reach = NETWORK_BREAK_MM / spacing + 1.0
        mask &= ndimage.distance_transform_edt(~lost) > reach
    outside = ndimage.distance_transform_edt(~mask)
    wide = outside <= 0.5 * NETWORK_WIDENING_MM / spacing + 0.5
    return ndimage.gaussian_filter(wide.astype(np.float32), 0.7)


def _probability(run, source: str, segmenter, spacing: float) -> np.ndarray:
    mask = run.masks[0].astype(np.float32)
    if source == "mask":
        return mask
    if source == "blurred":
        return ndimage.gaussian_filter(mask, 0.7)
    if source == "network":
        return _network(run, spacing)
    return segmenter.segment_frames(run.cine)[0]


def _centre(run, planted) -> np.ndarray:
    line = next(c for c in run.centerlines[0] if c.name == planted.segment)
    return np.array([np.interp(planted.position_mm, line.arc_length_mm, line.points_rc[:, k])
                     for k in (0, 1)])


def _side_branch_mm(run, planted, centre, spacing) -> float:
    """Distance (mm) from the lesion centre to the nearest side-branch origin on its branch."""
    origins = [line.points_rc[0] for line in run.centerlines[0] if line.parent == planted.segment]
    return min((float(np.linalg.norm(o - centre)) * spacing for o in origins), default=np.inf)


def _length_errors(run, segments, spacing) -> list[float]:
    errors = []
    for segment in segments:
        if segment.length < 5.0 or segment.n_bifurcations:
            continue
        fits = []
        for line in run.centerlines[0]:
            distance, _ = cKDTree(line.points_rc).query(segment.points_rc)
            fits.append((distance.mean(), line))
        mean_distance, line = min(fits, key=lambda f: f[0])
        if mean_distance > 1.0:
            continue
        margin = max(2.0, 1.5 * (segment.mean_diameter or 0.0))
        keep = (segment.distance >= margin) & (segment.distance <= segment.distance[-1] - margin)
        if keep.sum() < 2:
            continue
        inner = segment.points_rc[keep]
        _, ends = cKDTree(line.points_rc).query(inner[[0, -1]])
        true = abs(line.arc_length_mm[ends[1]] - line.arc_length_mm[ends[0]])
        measured = segment.distance[keep][-1] - segment.distance[keep][0]
        errors.append(100.0 * (measured / true - 1.0))
    return errors


def _expected_length(planted) -> float:
    """Length (mm) narrower than 80 % of the reference of a raised-cosine lesion (see qca)."""
    fraction = planted.percent_diameter / 100.0
    return planted.length_mm * float(np.arccos(2 * 0.2 / fraction - 1)) / np.pi


def _catheter_error(run, spacing) -> float | None:
    from AngioSegLib.errors import InputError
    from AngioSegLib.qca.calibration import calibrate_from_catheter

    axis = run.catheter[0]
    size = run.options.size
    inside = np.flatnonzero(np.all((axis > 15) & (axis < size - 15), axis=1))
    if len(inside) < 10:
        return None
    k = inside[len(inside) // 2]
    step = int(round(4.0 / spacing / np.median(np.linalg.norm(np.diff(axis, axis=0), axis=1))))
    if k + step >= len(axis):
        return None
    try:
        calibration = calibrate_from_catheter(run.cine.frame(0), tuple(axis[k]),
                                              tuple(axis[k + step]), 6.0)
    except InputError:
        return None
    return 100.0 * (calibration.mm_per_pixel / spacing - 1.0)


def _evaluate(source, seeds, spacings, size, segmenter, options):
    from AngioSegLib.qca.analysis import list_stenoses, measure_segments

    rows = {"mld": [], "ds": [], "rvd": [], "length": [], "found": 0, "planted": 0, "fp": 0,
            "seconds": [], "catheter": [], "mld_plain": [], "ds_plain": [], "rvd_plain": [],
            "by_spacing": {spacing: ([], []) for spacing in spacings}, "log": [],
            "lesion_length": []}
    for seed in seeds:
        for spacing in spacings:
            run = _phantom(seed, spacing, size)
            probability = _probability(run, source, segmenter, spacing)
            start = time.perf_counter()
            segments = measure_segments(probability, run.masks[0] if source in ("mask", "blurred")
                                        else (probability >= 0.5).astype(np.uint8),
                                        spacing, "mm", 0, options, image=run.cine.frame(0))
            rows["seconds"].append(time.perf_counter() - start)
            centres = [_centre(run, p) for p in run.stenoses]
            listed = list_stenoses(segments, options)
            for planted, centre in zip(run.stenoses, centres, strict=True):
                rows["planted"] += 1
                offsets = [np.linalg.norm(np.array(s.position_rc) - centre) * spacing
                           for s in listed]
                side_branch_mm = _side_branch_mm(run, planted, centre, spacing)
                where = (f"seed {seed} {spacing} mm/px {planted.segment:<4} true "
                         f"{planted.percent_diameter:4.1f} %DS, MLD {planted.mld_mm:.2f} mm, "
                         f"side branch {side_branch_mm:4.1f} mm:")
                if not offsets or min(offsets) > planted.length_mm / 2 + 1.0:
                    rows["log"].append(f"{where} not listed")
                    continue
                lesion = listed[int(np.argmin(offsets))]
                rows["found"] += 1
                rows["mld"].append(lesion.mld - planted.mld_mm)
                rows["rvd"].append(lesion.rvd - planted.reference_diameter_mm)
                rows["ds"].append(lesion.percent_diameter_stenosis - planted.percent_diameter)
                if lesion.lesion_length is not None:
                    rows["lesion_length"].append(lesion.lesion_length - _expected_length(planted))
                rows["by_spacing"][spacing][0].append(rows["mld"][-1])
                rows["by_spacing"][spacing][1].append(rows["ds"][-1])
                rows["log"].append(f"{where} {lesion.percent_diameter_stenosis:4.1f} %DS, MLD "
                                   f"{lesion.mld:.2f} mm ({lesion.mld_method})")
                if side_branch_mm > planted.length_mm / 2 + 2.0:
                    rows["mld_plain"].append(rows["mld"][-1])
                    rows["ds_plain"].append(rows["ds"][-1])
                    rows["rvd_plain"].append(rows["rvd"][-1])
            for lesion in listed:
                if min(np.linalg.norm(np.array(lesion.position_rc) - c) for c in centres) \
                        * spacing > 3.0:
                    rows["fp"] += 1
                    rows["log"].append(
                        f"seed {seed} {spacing} mm/px false lesion at {lesion.position_rc[0]:.0f},"
                        f"{lesion.position_rc[1]:.0f}: {lesion.percent_diameter_stenosis:4.1f} "
                        f"%DS, RVD {lesion.rvd:.2f} mm ({lesion.mld_method}, "
                        f"{lesion.reference_method})")
            rows["length"] += _length_errors(run, segments, spacing)
            if source == "mask":
                error = _catheter_error(run, spacing)
                if error is not None:
                    rows["catheter"].append(error)
    return rows


def _stats(values) -> str:
    if not values:
        return "–"
    values = np.asarray(values, float)
    return f"{values.mean():+.3f} ± {values.std():.3f} (max |{np.abs(values).max():.2f}|)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first-seed … first-seed + seeds − 1 (8 for unseen ones)")
    parser.add_argument("--spacings", type=float, nargs="+", default=[0.15, 0.2, 0.3])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--probabilities-from", nargs="+", default=["mask", "blurred"],
                        choices=["mask", "blurred", "network", "model"], dest="sources")
    parser.add_argument("--config", default="after", choices=["before", "after"],
                        help="the 0.3 QCA (before) or the current one (after)")
    parser.add_argument("--diameter-method", default="integral", choices=["integral", "iso"])
    parser.add_argument("--mld-method", default="densitometric", choices=["densitometric", "edge"])
    parser.add_argument("--lesions", action="store_true",
                        help="also list every planted and every false lesion")
    parser.add_argument("--model", default=None, help="model name or bundle (default: shipped)")
    args = parser.parse_args()
    from AngioSegLib.qca.analysis import QcaOptions

    segmenter = None
    if "model" in args.sources:
        from AngioSegLib.segment.segmenter import Segmenter

        segmenter = Segmenter(args.model)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"QCA on seeds {seeds.start}–{seeds.stop - 1} × spacings {args.spacings} mm/pixel, "
          f"{args.size}² px, 2 planted lesions each (30–80 %DS, 4–8 mm); errors = measured − true, "
          f"mean ± SD; diameters: {args.diameter_method}, MLD: {args.mld_method}, "
          f"QCA: {args.config}")
    header = (f"{'probabilities':<14}{'found':>8}{'MLD error (mm)':>34}{'%DS error (points)':>34}"
              f"{'RVD error (mm)':>34}{'length error (%)':>34}{'FP':>5}{'s/frame':>9}")
    print(header)
    print("-" * len(header))
    catheter = []
    for source in args.sources:
        options = QcaOptions(diameter_method=args.diameter_method, mld_method=args.mld_method)
        if args.config == "before":
            options = replace(options, border_method="probability", bridge_gaps=False,
                              exclude_overlap=False, min_vessel_snr=0.0)
        rows = _evaluate(source, seeds, args.spacings, args.size, segmenter, options)
        catheter += rows["catheter"]
        print(f"{source:<14}{rows['found']:>4}/{rows['planted']:<3}{_stats(rows['mld']):>34}"
              f"{_stats(rows['ds']):>34}{_stats(rows['rvd']):>34}{_stats(rows['length']):>34}"
              f"{rows['fp']:>5}{statistics.median(rows['seconds']):>9.3f}")
        plain = len(rows["mld_plain"])
        print(f"{'  no bifurc.':<14}{plain:>4}/{rows['found']:<3}{_stats(rows['mld_plain']):>34}"
              f"{_stats(rows['ds_plain']):>34}{_stats(rows['rvd_plain']):>34}")
        print(f"{'  lesion length':<14}{len(rows['lesion_length']):>8}"
              f"{_stats(rows['lesion_length']):>34} mm (narrower than 0.8 × RVD)")
        for spacing, (mld, ds) in rows["by_spacing"].items():
            print(f"{f'  {spacing} mm/px':<14}{len(mld):>8}{_stats(mld):>34}{_stats(ds):>34}")
        if args.lesions:
            print("\n".join(f"    {line}" for line in rows["log"]))
    if catheter:
        print(f"catheter calibration (6 F, noisy frame, along, n={len(catheter)}): "
              f"mm/pixel error % {_stats(catheter)}")


if __name__ == "__main__":
    main()
