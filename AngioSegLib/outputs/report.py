"""`report.html` (one self-contained page) plus `qca.json`, `qca.csv` and `frames.csv` of a Result.

Images are embedded as base64 PNG so the page opens anywhere, offline, from a single file.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from AngioSegLib import __version__
from AngioSegLib.pipeline import Result

CAUTION = (
    "Research software, not a medical device: AngioSeg's segmentation and measurements are not "
    "for diagnosis or treatment decisions. Check every result against the images."
)

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1b1f24;padding:0 1rem}h1{font-size:1.6rem;margin-bottom:.2rem}
h2{font-size:1.2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
.caution{background:#fff8c5;border:1px solid #d4a72c;padding:.6rem .9rem;border-radius:6px}
table{border-collapse:collapse;font-size:.92rem}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:right}th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
.frames{display:flex;gap:.8rem;flex-wrap:wrap}.frames figure{margin:0}.frames img{width:260px;
border-radius:4px}figcaption{font-size:.85rem;color:#57606a}.plots img{max-width:100%}
.muted{color:#57606a;font-size:.85rem}table.kv td{text-align:left}table.kv td:first-child{
font-weight:600;background:#f6f8fa}
.anatomy img{width:520px;max-width:100%;border-radius:4px}.legend{display:flex;flex-wrap:wrap;
gap:.3rem .9rem;font-size:.85rem;margin-top:.4rem}.swatch{display:inline-block;width:.9em;
height:.9em;margin-right:.35em;vertical-align:-.1em;border:1px solid #57606a}
"""


def png_data_uri(image_or_png: np.ndarray | bytes) -> str:
    """An RGB/grey uint8 image (or PNG bytes) as a ``data:image/png;base64,...`` URI."""
    if isinstance(image_or_png, bytes):
        data = image_or_png
    else:
        import cv2

        image = np.asarray(image_or_png)
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise ValueError("could not encode the image as PNG")
        data = encoded.tobytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _table(header: list[str] | None, rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header or [])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    css = ' class="kv"' if header is None else ""
    return f"<table{css}>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def key_frames(result: Result) -> list[int]:
    """First frame, analysis frame and last frame (unique, in order)."""
    analysis_frame = result.analysis.analysis_frame if result.analysis is not None else None
    picks = [0, analysis_frame, result.cine.n_frames - 1]
    return sorted({p for p in picks if p is not None})


def stenosis_markers(result: Result) -> list[tuple[int, float, float, str]]:
    """(frame, row, col, label) of each listed stenosis, for the overlay video."""
    if result.analysis is None:
        return []
    frame = result.analysis.analysis_frame
    return [
        (frame, s.position_rc[0], s.position_rc[1], f"{s.percent_diameter_stenosis:.0f}%")
        for s in result.analysis.stenoses
    ]


def _summary_rows(result: Result) -> list[list[str]]:
    cine = result.cine
    calibration = cine.calibration
    rate = cine.frame_rate_hz
    spacing = (
        f"{calibration.mm_per_pixel:.4f} mm/pixel ({calibration.source.value})"
        if calibration.is_calibrated
        else "none: lengths in pixels"
    )
    return [
        ["Input", cine.name],
        ["View", cine.view.label],
        ["Frames", f"{cine.n_frames} × {cine.shape[2]}×{cine.shape[1]} pixels"],
        ["Frame rate", f"{rate:.1f} frames/s" if rate else "unknown"],
        ["Duration", f"{cine.duration_s:.2f} s" if cine.duration_s else "unknown"],
        ["Calibration", spacing],
        ["Model", f"{result.model_name} {result.model_version} on {result.device}"],
        ["Temporal filter", _temporal_label(result)],
        ["Processing time", ", ".join(f"{k} {v:.1f} s" for k, v in result.timings_s.items())],
    ]


def _temporal_label(result: Result) -> str:
    options = result.options.temporal
    if options.k == 0:
        return "off"
    kind = "motion-compensated" if options.motion_compensation else "plain average"
    return f"{kind}, K = {options.k} ({2 * options.k + 1} frames)"


def _key_frame_html(result: Result) -> str:
    from AngioSegLib.outputs.overlay import render_overlay_frame

    markers = stenosis_markers(result)
    figures = []
    for index in key_frames(result):
        frame_markers = [m[1:] for m in markers if m[0] == index]
        image = render_overlay_frame(result.cine.frame(index), result.masks[index], frame_markers)
        time_s = result.cine.frame_times_s
        when = f", {time_s[index]:.2f} s" if time_s is not None else ""
        figures.append(
            f'<figure><img alt="frame {index}" src="{png_data_uri(image)}">'
            f"<figcaption>frame {index}{when}</figcaption></figure>"
        )
    return '<div class="frames">' + "".join(figures) + "</div>"


def _segment_name(stenosis) -> str:
    """"7 LAD mid" for a stenosis on a named coronary segment, "–" otherwise."""
    if stenosis.syntax_segment is None:
        return "–"
    return html.escape(f"{stenosis.syntax_segment} {stenosis.segment_name}")


def _anatomy_html(result: Result) -> str:
    """The analysis frame with each vessel pixel coloured by its coronary segment, a legend, and
    the stenosis markers ("" for a model without a segment head)."""
    from AngioSegLib.outputs.overlay import anatomy_legend_html, render_anatomy_frame

    if result.anatomy is None:
        return ""
    index = result.analysis.analysis_frame if result.analysis is not None else (
        int(np.argmax((result.anatomy > 0).sum(axis=(1, 2)))))
    markers = [m[1:] for m in stenosis_markers(result) if m[0] == index]
    image = render_anatomy_frame(result.cine.frame(index), result.anatomy[index],
                                 result.masks[index], markers)
    return (f'<h2>Coronary segments (frame {index})</h2><figure class="anatomy"><img '
            f'alt="coronary segments" src="{png_data_uri(image)}">'
            f"{anatomy_legend_html(np.unique(result.anatomy[index]))}"
            '<figcaption>named by the model (SYNTAX segments); vessel outlined in yellow where '
            "no segment is named</figcaption></figure>")


def _analysis_html(result: Result) -> str:
    from AngioSegLib.outputs.qca_plots import plot_diameter_profile, plot_filling_curve

    analysis = result.analysis
    if analysis is None:
        return "<p>Quantitative analysis was not run.</p>"
    unit = analysis.calibration.unit
    parts = [f"<p>Analysis frame {analysis.analysis_frame}: {html.escape(analysis.analysis_rule)}."]
    if not analysis.calibration.is_calibrated:
        parts.append(" <b>Uncalibrated:</b> lengths are in pixels; use a catheter calibration.")
    parts.append("</p>")
    rows = [
        [f"{i + 1}", s.segment_label, _segment_name(s), _fmt(s.percent_diameter_stenosis, 0),
         _fmt(s.percent_area_stenosis, 0), _fmt(s.mld), s.mld_method, _fmt(s.edge_mld),
         _fmt(s.densitometric_mld), _fmt(s.rvd), _fmt(s.lesion_length),
         "yes" if s.through_bridge else ""]
        for i, s in enumerate(analysis.stenoses)
    ]
    parts.append("<h2>Stenoses (most severe first)</h2>")
    parts.append(
        _table(["#", "segment", "coronary segment", "%DS", "%AS", f"MLD ({unit})", "MLD from",
                f"MLD, borders ({unit})", f"MLD, densitometric ({unit})", f"RVD ({unit})",
                f"lesion length ({unit})", "through a break"], rows)
        if rows else (f"<p>No stenosis of {analysis.options.min_stenosis_percent:.0f} % "
                      "diameter or more was found.</p>")
    )
    excluded = [f"{s.segment_label}: {', '.join(s.overlap_stretches)} {unit}"
                for s in analysis.segments if s.overlap_stretches]
    if excluded:
        parts.append("<p class=\"muted\">Left out of the reference and lesion search (another "
                     "vessel crosses or overlaps): " + html.escape("; ".join(excluded)) + "</p>")
    plots = [plot_filling_curve(analysis)]
    most_severe = dict.fromkeys(s.segment_id for s in analysis.stenoses)  # one plot a segment
    for segment_id in list(most_severe)[:3]:
        plots.append(plot_diameter_profile(analysis.segment(segment_id), analysis))
    images = "".join(f'<img alt="plot" src="{png_data_uri(p)}">' for p in plots)
    parts.append(f'<h2>Plots</h2><div class="plots">{images}</div>')
    return "".join(parts)


def render_report_html(result: Result) -> str:
    """The report page as one HTML string."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.cine.warnings)
    title = f"AngioSeg report — {html.escape(result.cine.name)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><h1>AngioSeg report</h1><p class="muted">{created} · AngioSeg {__version__}</p>
<p class="caution">{CAUTION}</p>
<h2>Run</h2>{_table(None, _summary_rows(result))}
{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Key frames</h2>{_key_frame_html(result)}
{_anatomy_html(result)}
{_analysis_html(result)}
<p class="muted">Files: segmentation.dcm (DICOM SEG), measurements.dcm (DICOM SR),
labels.seq.nrrd (3D Slicer sequence), labels.nii.gz, overlay.mp4, qca.json, qca.csv (segments),
frames.csv (per frame){"; anatomy.dcm, anatomy.seq.nrrd, anatomy.nii.gz, anatomy.ctbl (coronary "
"segments)" if result.anatomy is not None else ""}.</p>
</body></html>
"""


def write_report(result: Result, folder: Path) -> Path:
    """Write report.html, qca.json, qca.csv and frames.csv into ``folder`` (a staging folder)."""
    from AngioSegLib.outputs.tables import write_frames_csv, write_qca_json, write_segments_csv

    folder = Path(folder)
    if result.analysis is not None:
        write_qca_json(result.analysis, folder / "qca.json")
        write_segments_csv(result.analysis, folder / "qca.csv")
        write_frames_csv(result.analysis, folder / "frames.csv")
    path = folder / "report.html"
    path.write_text(render_report_html(result), encoding="utf-8")
    return path
