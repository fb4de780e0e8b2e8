"""Write every output of a :class:`~AngioSegLib.pipeline.Result` into one folder, all or nothing.

Files are first written into a hidden staging folder beside OUTDIR; only when every file is done
are they moved in (``os.replace``), so a failure or a cancel leaves no partial output behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.pipeline import Result
from AngioSegLib.progress import Progress, ProgressCallback, no_progress


@dataclass(frozen=True)
class OutputOptions:
    """Which outputs to write; ``fractional_seg`` stores probabilities in the DICOM SEG."""

    seg: bool = True
    fractional_seg: bool = False
    labelmaps: bool = True
    video: bool = True
    report: bool = True
    force: bool = False


@dataclass(frozen=True)
class OutputPaths:
    """Where each output went (None = not written)."""

    folder: Path
    files: tuple[Path, ...]
    report: Path | None
    seg: Path | None


def check_output_folder(folder: Path, force: bool) -> None:
    """Refuse a file in the way or a non-empty folder unless ``force``."""
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"output {folder} is a file; choose a folder path")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise OutputExistsError(
            f"output folder {folder} is not empty; choose another or pass --force to overwrite"
        )


def write_outputs(
    result: Result,
    folder: str | os.PathLike[str],
    options: OutputOptions | None = None,
    progress: ProgressCallback = no_progress,
) -> OutputPaths:
    """Write SEG, labelmaps, overlay video, report and tables of ``result`` into ``folder``."""
    options = options or OutputOptions()
    folder = Path(folder)
    check_output_folder(folder, options.force)
    if not folder.parent.exists():
        raise InputError(f"the folder {folder.parent} does not exist; create it first")
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        seg = _write_all(result, staging, options, progress)
        folder.mkdir(exist_ok=True)
        moved = []
        for path in sorted(staging.iterdir()):
            target = folder / path.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(path, target)
            moved.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = folder / "report.html"
    return OutputPaths(
        folder=folder,
        files=tuple(moved),
        report=report if report.exists() else None,
        seg=folder / seg.name if seg else None,
    )


def _write_all(
    result: Result, staging: Path, options: OutputOptions, progress: ProgressCallback
) -> Path | None:
    steps = [s for s, on in (("seg", options.seg), ("labelmaps", options.labelmaps),
                             ("video", options.video), ("report", options.report)) if on]
    seg_path = None
    for done, step in enumerate(steps):
        progress(Progress("write", done, len(steps), step))
        if step == "seg":
            seg_path = _write_seg(result, staging, options.fractional_seg)
        elif step == "labelmaps":
            _write_labelmaps(result, staging)
        elif step == "video":
            _write_video(result, staging)
        else:
            from AngioSegLib.report import write_report

            write_report(result, staging)
    progress(Progress("write", len(steps), len(steps), "done"))
    return seg_path


def _write_seg(result: Result, staging: Path, fractional: bool) -> Path | None:
    """DICOM SEG needs a DICOM source; other inputs get no SEG (said in the cine's warnings)."""
    if not result.cine.references:
        return None
    from AngioSegLib.io.seg import write_seg

    return write_seg(
        result.cine,
        result.masks,
        staging / "segmentation.dcm",
        probabilities=result.probabilities if fractional else None,
        fractional=fractional,
        algorithm_name=f"AngioSeg {result.model_name}",
        algorithm_version=result.model_version or "0",
    )


def _write_labelmaps(result: Result, staging: Path) -> None:
    from AngioSegLib.io.labelmap import write_labelmap_nifti, write_labelmap_sequence

    spacing = result.cine.calibration.mm_per_pixel
    write_labelmap_sequence(
        result.masks, staging / "labels.seq.nrrd",
        spacing_mm=spacing, frame_times_s=result.cine.frame_times_s,
    )
    write_labelmap_nifti(
        result.masks, staging / "labels.nii.gz",
        spacing_mm=spacing, frame_times_s=result.cine.frame_times_s,
    )


def _write_video(result: Result, staging: Path) -> None:
    from AngioSegLib.overlay import write_overlay_video, write_preview_gif
    from AngioSegLib.report import stenosis_markers

    frames = result.cine.to_array()
    markers = stenosis_markers(result)
    fps = result.cine.frame_rate_hz or 15.0
    write_overlay_video(frames, result.masks, staging / "overlay.mp4", fps=fps,
                        stenosis_markers=markers)
    write_preview_gif(frames, result.masks, staging / "preview.gif", fps=fps,
                      stenosis_markers=markers)
