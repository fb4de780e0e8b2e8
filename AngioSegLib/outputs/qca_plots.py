"""QCA plots (matplotlib, Agg): a segment's diameter profile and the run's filling curve.

Each function returns PNG bytes; with ``path`` it also writes them atomically (refusing to
overwrite unless ``force``).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from AngioSegLib.io.atomic import atomic_write
from AngioSegLib.qca.measures import RunAnalysis, SegmentMeasures

__all__ = ["plot_diameter_profile", "plot_filling_curve"]


def _png(figure, path: str | Path | None, force: bool) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    data = buffer.getvalue()
    if path is not None:
        with atomic_write(path, force=force) as tmp:
            tmp.write_bytes(data)
    return data


def _shade(axes, distance: np.ndarray, flags: np.ndarray | None, label: str, **style) -> None:
    """Shade each run of ``flags`` along the distance axis (one legend entry)."""
    if flags is None or not np.any(flags):
        return
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(flags, int), 0]))
    for k, (lo, hi) in enumerate(zip(edges[::2], edges[1::2] - 1, strict=True)):
        axes.axvspan(distance[lo], distance[hi], label=label if k == 0 else None, **style)


def plot_diameter_profile(segment: SegmentMeasures, analysis: RunAnalysis | None = None,
                          path: str | Path | None = None, force: bool = False) -> bytes:
    """Diameter along ``segment`` with its interpolated reference and its *listed* lesions
    (the stenosis list's: stretch, MLD and %DS of each, the title naming the most severe), the
    stretches left out as overlapped and those bridged where the segmentation broke; about
    each lesion with a densitometric MLD, the densitometric diameter too."""
    unit = segment.unit
    figure, axes = plt.subplots(figsize=(7.0, 3.2))
    source = "image borders" if segment.border_method == "image" else "segmentation edges"
    axes.plot(segment.distance, segment.diameter, color="#1f6feb", label=f"diameter ({source})")
    axes.plot(segment.distance, segment.reference_diameter, "--", color="#57606a",
              label="interpolated reference")
    if np.isfinite(segment.densitometric_diameter).any():
        axes.plot(segment.distance, segment.densitometric_diameter, ":", color="#8250df",
                  label="densitometric diameter")
    _shade(axes, segment.distance, segment.overlap, "excluded: overlap", color="#8c959f",
           alpha=0.3)
    _shade(axes, segment.distance, segment.bridged, "bridged break", color="#fd8c73",
           alpha=0.2)
    listed = segment.listed_lesions
    for k, lesion in enumerate(listed):
        at = float(segment.distance[lesion.mld_index])
        if lesion.lesion_start is not None:
            axes.axvspan(lesion.lesion_start, lesion.lesion_end, color="#d4a72c", alpha=0.25,
                         label=f"lesion {lesion.lesion_length:.1f} {unit}" if k == 0 else None)
        how = " (densitometric)" if lesion.mld_method == "densitometric" else ""
        axes.plot([at], [lesion.mld], "v", color="#cf222e",
                  label=f"MLD {lesion.mld:.2f} {unit}{how}" if k == 0 else None)
        axes.plot([at], [lesion.rvd], "o", color="#57606a",
                  label=f"RVD {lesion.rvd:.2f} {unit}" if k == 0 else None)
        axes.annotate(f"{lesion.percent_diameter_stenosis:.0f} %DS", (at, lesion.mld),
                      textcoords="offset points", xytext=(0, -12), ha="center", fontsize=7)
    title = f"Segment {segment.segment_label}, frame {segment.frame}"
    if listed:
        worst = max(listed, key=lambda lesion: lesion.percent_diameter_stenosis)
        title += (f": {worst.percent_diameter_stenosis:.0f} %DS, "
                  f"{worst.percent_area_stenosis:.0f} %AS")
    else:
        title += ": no listed stenosis"
    axes.set_title(title)
    axes.set_xlabel(f"distance from the segment start ({unit})")
    axes.set_ylabel(f"diameter ({unit})")
    reference = segment.reference_diameter[np.isfinite(segment.reference_diameter)]
    finite = segment.diameter[np.isfinite(segment.diameter)]
    top = min(float(finite.max()) * 1.05, 2.0 * float(reference.max())) \
        if len(reference) and len(finite) else 0.0  # flares would squash the lumen: cap
    if top > 0:
        axes.set_ylim(0, top)
    else:
        axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    if analysis is not None:
        figure.text(0.99, 0.01, f"calibration: {analysis.calibration.source.value}",
                    ha="right", va="bottom", fontsize=7, color="#57606a")
    return _png(figure, path, force)


def plot_filling_curve(analysis: RunAnalysis, path: str | Path | None = None,
                       force: bool = False) -> bytes:
    """Filling (0–1) over time (s, or frames when timing is unknown) with arrival, peak,
    washout and the analysis frame marked."""
    curve = analysis.filling_curve
    n = len(curve.filling)
    x = curve.times_s if curve.times_s is not None else np.arange(n)
    xlabel = "time (s)" if curve.times_s is not None else "frame"
    figure, axes = plt.subplots(figsize=(7.0, 3.0))
    axes.plot(x, curve.filling, "-o", markersize=3, color="#1f6feb", label="opacification")
    marks = [("arrival", curve.arrival_frame, "#2da44e", ":"),
             ("peak", curve.peak_frame, "#cf222e", "--"),
             ("washout", curve.washout_frame, "#8250df", ":"),
             ("analysis frame", analysis.analysis_frame, "#1b1f24", "-")]
    for label, frame, color, style in marks:
        if frame is not None:
            axes.axvline(x[frame], color=color, linestyle=style, linewidth=1,
                         label=f"{label} (frame {frame})")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("filling (fraction of peak)")
    axes.set_ylim(0, 1.05)
    axes.set_title("Contrast filling curve")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    return _png(figure, path, force)
