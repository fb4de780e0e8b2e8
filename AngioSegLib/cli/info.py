"""`angioseg info`: what a run holds (frames, size, timing, spacing, view) without segmenting."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def describe(cine) -> dict:
    """The machine-readable description printed by ``--json`` (times in s, lengths in mm)."""
    frames, rows, columns = cine.shape
    view = cine.view
    return {
        "path": str(cine.source_path) if cine.source_path else None,
        "name": cine.name,
        "frames": frames,
        "rows": rows,
        "columns": columns,
        "bits_stored": cine.bits_stored,
        "frame_rate_hz": cine.frame_rate_hz,
        "duration_s": cine.duration_s,
        "mm_per_pixel": cine.calibration.mm_per_pixel,
        "calibration_source": cine.calibration.source.value,
        "view": {
            "label": view.label,
            "primary_angle_deg": view.primary_angle_deg,
            "secondary_angle_deg": view.secondary_angle_deg,
            "source_to_detector_mm": view.source_to_detector_mm,
            "source_to_patient_mm": view.source_to_patient_mm,
        },
        "r_wave_frames": list(cine.r_wave_frames),
        "transfer_syntax": cine.transfer_syntax,
        "sop_class_uid": cine.references[0].sop_class_uid if cine.references else None,
        "warnings": list(cine.warnings),
    }


def _lines(info: dict) -> list[str]:
    rate, duration, mm = info["frame_rate_hz"], info["duration_s"], info["mm_per_pixel"]
    spacing = f"{mm:.4f} mm/pixel" if mm is not None else "none (measurements in pixels)"
    lines = [
        f"{info['name']}  ({info['path']})",
        f"  frames:          {info['frames']}",
        f"  size:            {info['columns']} × {info['rows']} pixels (width × height)",
        f"  bit depth:       {info['bits_stored']} bits stored",
        f"  frame rate:      {f'{rate:.2f} frames/s' if rate else 'unknown'}",
        f"  duration:        {f'{duration:.3f} s' if duration else 'unknown'}",
        f"  pixel spacing:   {spacing}",
        f"  spacing source:  {info['calibration_source']}",
        f"  view:            {info['view']['label']}",
        f"  transfer syntax: {info['transfer_syntax'] or 'not DICOM'}",
    ]
    if info["r_wave_frames"]:
        lines.append(f"  R waves (0-based frames): {', '.join(map(str, info['r_wave_frames']))}")
    lines += [f"warning: {w}" for w in info["warnings"]]
    return lines


def info(
    input_path: Path = typer.Argument(
        ..., metavar="PATH", help="XA DICOM file, DICOM folder, DICOMDIR, PNG/TIFF folder or video."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show what a run holds: frames, size, bit depth, timing, pixel spacing, view, warnings."""
    from AngioSegLib.io import read_cine

    description = describe(read_cine(input_path))
    if as_json:
        typer.echo(json.dumps(description, indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(_lines(description)))


def register(app: typer.Typer) -> None:
    """Add ``info`` to ``app``."""
    app.command("info")(info)
