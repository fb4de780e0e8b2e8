"""Does a vessel's contrast grow with its cross-section (D²), as the densitometric MLD assumes?

For each image, every centerline segment of ≥ 15 px gets its median diameter D (px, from the mask's
edges) and its median densitometric area A (:func:`AngioSegLib.qca.densitometry.area_profile`); the
exponent is the slope of log A on log D across the image's segments (2 where the pixel values
are linear in the attenuation, as in a log-processed angiogram). Images:

* ``phantom``: the QCA benchmark's phantoms (noisy frame, true mask), 0.15–0.3 mm/px;
* ``xca``: the real angiograms of ``../shared/data/xca-train`` with their manual masks (8-bit
  display images), skipped when absent.

The estimate itself is biased low by edge and sampling effects: read the phantom row (truth 2) as
its reference.

    .venv/bin/python benchmarks/bench_densitometry.py [--seeds 6]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

XCA = Path(__file__).resolve().parents[2] / "shared" / "data" / "xca-train"


def exponent(image: np.ndarray, mask: np.ndarray) -> float | None:
    """Slope of log(area) on log(diameter) over the segments of one image (None if too few)."""
    from AngioSegLib.qca.analysis import measure_segments
    from AngioSegLib.qca.densitometry import area_profile

    diameters, areas = [], []
    for segment in measure_segments(mask.astype(np.float32), mask, 1.0, "px"):
        if segment.length < 15:
            continue
        d = segment.diameter
        area = area_profile(image, segment.points_rc, _normals(segment.points_rc), d / 2, d / 2,
                            background_samples=20, vessel=mask)
        inner = (segment.distance > 3) & (segment.distance < segment.length - 3)
        ok = np.isfinite(area) & np.isfinite(d) & inner
        if ok.sum() >= 10 and np.median(area[ok]) > 0:
            diameters.append(np.median(d[ok]))
            areas.append(np.median(area[ok]))
    if len(diameters) < 4 or np.ptp(np.log(diameters)) < 0.3:
        return None
    return float(np.polyfit(np.log(diameters), np.log(areas), 1)[0])


def _normals(points_rc: np.ndarray) -> np.ndarray:
    tangent = np.gradient(points_rc, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    return np.stack([-tangent[:, 1], tangent[:, 0]], 1)


def phantom_images(seeds: int):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_qca import _phantom

    for seed in range(seeds):
        for spacing in (0.15, 0.2, 0.3):
            run = _phantom(seed, spacing, 384)
            yield run.cine.frame(0).astype(np.float32), run.masks[0]


def xca_images():
    for mask_path in sorted(XCA.glob("*_gt.png")):
        image = cv2.imread(str(mask_path).replace("_gt", ""), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 127
        yield image.astype(np.float32), mask.astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    print(f"{'images':<10}{'n':>5}{'median exponent':>18}{'IQR':>16}")
    sources = [("phantom", phantom_images(args.seeds))]
    if XCA.is_dir():
        sources.append(("xca", xca_images()))
    for name, images in sources:
        values = [e for e in (exponent(i, m) for i, m in images) if e is not None]
        q1, q3 = np.percentile(values, [25, 75])
        print(f"{name:<10}{len(values):>5}{np.median(values):>18.2f}{f'{q1:.2f}–{q3:.2f}':>16}")


if __name__ == "__main__":
    main()
