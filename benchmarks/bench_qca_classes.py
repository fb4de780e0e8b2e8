"""QCA by class on the second phantom set (:mod:`AngioSegLib.phantom.qca_suite`), before vs after.

Each case is one frame with one planted lesion (reference 1.5–4.5 mm, 30–85 %DS plus 90 % and
total occlusions, concentric / eccentric / plateau, elliptical lumens, 0.15–0.3 mm/px, blur
0.4–1.2 px, scatter, LOG / LIN / untagged display-processed files at 8–12 bits, crossing and
second vessels) and a simulated network segmentation (0.2 mm too wide, broken where the lumen
is under 0.5 mm). QCA runs as ``analyze_run`` does: on ``attenuation_image(frame, PIR)``, with
densitometry where the Pixel Intensity Relationship makes it valid.

Configurations:

* ``before``: the 0.3 pipeline: borders on the probability map, no bridging, no overlap or
  on-vessel checks, densitometric MLD on every file;
* ``edge``: borders on the image, bridged breaks, overlap excluded, lesions on vessels only;
  MLD from the borders, the densitometric MLD beside it;
* ``densitometric`` (the default, "after"): the same with the densitometric MLD as the MLD
  where the Pixel Intensity Relationship makes it valid, the border MLD elsewhere.

The class tables set ``before`` beside ``densitometric`` (the shipped default); a last table
sets the two MLDs of the new pipeline side by side by file type (how the default was chosen).

A planted lesion is *found* when a listed stenosis lies within half its length + 1 mm of its
centre; errors are measured − true of that stenosis; a *false lesion* is a listed stenosis
farther than that from the planted one. Lesion length: against the true stretch narrower than
80 % of the reference.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_qca_classes.py [--cases 40] [--first 0]
        [--out benchmarks/qca_classes.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

CONFIGS = ("before", "edge", "densitometric")


def _options(config: str):
    from AngioSegLib.qca.analysis import QcaOptions

    if config == "before":
        return QcaOptions(border_method="probability", bridge_gaps=False, exclude_overlap=False,
                          blur_correction=False,
                          min_vessel_snr=0.0, mld_method="densitometric")
    return QcaOptions(mld_method=config)


def _measure(case, config: str):
    from AngioSegLib.qca.analysis import list_stenoses, measure_segments
    from AngioSegLib.qca.densitometry import attenuation_image, densitometry_is_valid

    relationship = case.pixel_intensity_relationship
    image = attenuation_image(case.frame, relationship)
    valid = True if config == "before" else densitometry_is_valid(relationship)
    options = _options(config)
    segments = measure_segments(case.probability, case.mask, case.options.mm_per_pixel, "mm", 0,
                                options, image=image, densitometry=valid)
    return list_stenoses(segments, options)


def _score(case, listed) -> dict:
    px = case.options.mm_per_pixel
    reach = case.options.lesion_mm / 2 + 1.0
    centre = np.array(case.lesion_rc)
    offsets = [float(np.linalg.norm(np.array(s.position_rc) - centre)) * px for s in listed]
    near = [k for k, d in enumerate(offsets) if d <= reach]
    row = {"found": bool(near), "fp": len(listed) - len(near)}
    if near:
        s = listed[min(near, key=lambda k: offsets[k])]
        row.update(mld=s.mld - case.mld_mm, ds=s.percent_diameter_stenosis
                   - case.percent_diameter, rvd=s.rvd - case.rvd_mm,
                   length=None if s.lesion_length is None
                   else s.lesion_length - case.lesion_length_mm,
                   method=s.mld_method)
    return row


def _classes(case) -> dict[str, str]:
    o = case.options
    diameter = "1.5–2.5 mm" if o.reference_mm < 2.5 else "2.5–3.5 mm" if o.reference_mm < 3.5 \
        else "3.5–4.5 mm"
    p = case.percent_diameter
    severity = ("100 % (occlusion)" if p >= 99.9 else "90 %" if p >= 89.9 else "70–85 %"
                if p >= 70 else "50–70 %" if p >= 50 else "30–50 %")
    pixel = "0.15–0.20 mm/px" if o.mm_per_pixel < 0.2 else "0.20–0.25 mm/px" \
        if o.mm_per_pixel < 0.25 else "0.25–0.30 mm/px"
    file_type = {"LOG": "LOG", "LIN": "LIN", "DISP": "untagged (display-processed)"}[o.file_type]
    overlap = "crossing vessel" if o.crossing else "second vessel" if o.second_vessel else "none"
    return {"diameter": diameter, "%DS": severity, "pixel size": pixel, "file type": file_type,
            "overlap": overlap}


def _stat(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    a = np.asarray(values, float)
    return f"{a.mean():+.2f} ± {a.std():.2f}"


def _cell(rows, config, key) -> str:
    return _stat([r[config].get(key) for r in rows if r[config]["found"]])


def _table(results, group: str, configs=("before", "densitometric")) -> list[str]:
    names = sorted({r["classes"][group] for r in results})
    a, b = configs
    head = (f"| {group} | n | found {a} | found {b} | MLD err {a} (mm) | MLD err {b} (mm) | "
            f"%DS err {a} | %DS err {b} | RVD err {a} (mm) | RVD err {b} (mm) | FP {a} | FP {b} |")
    lines = [head, "|" + "---|" * 12]
    for name in ["all", *names]:
        rows = results if name == "all" else [r for r in results if r["classes"][group] == name]
        found = {c: sum(r[c]["found"] for r in rows) for c in configs}
        fp = {c: sum(r[c]["fp"] for r in rows) for c in configs}
        lines.append(
            f"| {name} | {len(rows)} | {found[a]} | {found[b]} | {_cell(rows, a, 'mld')} | "
            f"{_cell(rows, b, 'mld')} | {_cell(rows, a, 'ds')} | {_cell(rows, b, 'ds')} | "
            f"{_cell(rows, a, 'rvd')} | {_cell(rows, b, 'rvd')} | {fp[a]} | {fp[b]} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    parser.add_argument("--lesions", action="store_true", help="one line per case")
    args = parser.parse_args()
    from AngioSegLib.phantom.qca_suite import draw_case, render_case

    results, log = [], []
    start = time.perf_counter()
    for seed in range(args.first, args.first + args.cases):
        case = render_case(draw_case(seed, args.size))
        row = {"classes": _classes(case)}
        for config in CONFIGS:
            row[config] = _score(case, _measure(case, config))
        results.append(row)
        o = case.options
        log.append(f"case {seed}: {o.reference_mm:.1f} mm {case.percent_diameter:.0f} %DS "
                   f"{o.shape} {o.mm_per_pixel:.2f} mm/px {o.file_type} "
                   f"{'crossing ' if o.crossing else ''}{'second ' if o.second_vessel else ''}"
                   + "; ".join(f"{c}: " + (f"{row[c]['ds'] + case.percent_diameter:.0f} %DS "
                                           f"MLD err {row[c]['mld']:+.2f}" if row[c]["found"]
                                           else "not found") + f" FP {row[c]['fp']}"
                               for c in CONFIGS))
    lines = [f"QCA by class on {len(results)} cases of the second phantom set "
             f"(seeds {args.first}–{args.first + args.cases - 1}, {args.size}² px; "
             f"{time.perf_counter() - start:.0f} s). Errors: measured − true, mean ± SD over "
             "found lesions; FP: false lesions.", ""]
    for group in ("diameter", "%DS", "pixel size", "file type", "overlap"):
        lines += _table(results, group) + [""]
    lines += ["MLD from the image borders (edge) vs the image's contrast (densitometric), after:",
              ""] + _table(results, "file type", ("edge", "densitometric")) + [""]
    lines += ["Lesion length error (mm): " + ", ".join(
        f"{c} {_cell(results, c, 'length')}" for c in CONFIGS)]
    text = "\n".join(lines)
    print(text)
    if args.lesions:
        print("\n".join(log))
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
