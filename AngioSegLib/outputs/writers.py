"""Write every output of a :class:`~AngioSegLib.pipeline.Result` into one folder, all or nothing.

Files are first written into a hidden staging folder beside OUTDIR (``.<name>.XXXX``); only when
every file is done does the staging folder take OUTDIR's place, as a whole (with ``force`` the old
folder is deleted only after the new one is complete), so a failure or a cancel leaves no partial
output and no file of an earlier run behind. A front door that runs the whole pipeline first
calls :func:`reserve_output_folder` (checks, and a lock against a second run writing the same
folder) and :func:`check_free_space`, before any work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import OutputExistsError, OutputNotWritableError
from AngioSegLib.io.atomic import (
    check_writable_folder,
    exclusive_lock,
    hidden_path,
    replace_folder,
)
from AngioSegLib.pipeline import Result
from AngioSegLib.progress import Progress, ProgressCallback, no_progress

OUTPUT_NAMES = frozenset({
    "segmentation.dcm", "measurements.dcm", "labels.seq.nrrd", "labels.nii.gz", "overlay.mp4",
    "preview.gif", "report.html", "qca.json", "qca.csv", "frames.csv", "phantom_xa.dcm",
    "batch-complete.json",  # angioseg batch's completion marker, written last
    "anatomy.seq.nrrd", "anatomy.nii.gz", "anatomy.ctbl", "anatomy.dcm",
})
"""Every name an output folder may hold; ``force`` replaces only a folder of these."""

BYTES_PER_PIXEL = 4
"""Rough size of the outputs per input pixel (SEG, two labelmaps, video, GIF), in bytes."""

REPORT_BYTES = 1_000_000
"""Rough size of the report and tables, whatever the run's size, in bytes."""


@dataclass(frozen=True)
class OutputOptions:
    """Which outputs to write; ``fractional_seg`` stores probabilities in the DICOM SEG;
    ``copies`` are files copied into the folder as they are (the demo's generated input)."""

    seg: bool = True
    fractional_seg: bool = False
    labelmaps: bool = True
    video: bool = True
    report: bool = True
    force: bool = False
    copies: tuple[Path, ...] = ()


@dataclass(frozen=True)
class OutputPaths:
    """Where each output went (None = not written)."""

    folder: Path
    files: tuple[Path, ...]
    report: Path | None
    seg: Path | None


def check_output_folder(
    folder: str | os.PathLike[str], force: bool, *, keep: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """Return ``folder`` as a Path if the outputs may go there; raise a clear error if not.

    The folder must be new or empty, or with ``force`` hold only outputs of an earlier run
    (:data:`OUTPUT_NAMES`: ``force`` replaces the whole folder, so anything else in it would be
    lost), and hold none of the paths in ``keep`` (the inputs); its parent must be a writable
    folder. Raises :class:`~AngioSegLib.errors.OutputExistsError`,
    :class:`~AngioSegLib.errors.InputError` or
    :class:`~AngioSegLib.errors.OutputNotWritableError`.
    """
    folder = Path(folder)
    if folder.name in ("", ".."):
        folder = Path(os.path.abspath(folder))  # '.', '..': the folder needs a name and a parent
    if folder.is_symlink():
        raise OutputExistsError(
            f"output {folder} is a symbolic link; give the folder it points to, "
            f"{folder.resolve()}, or another path"
        )
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"output {folder} is a file; choose a folder path")
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if names and not force:
        raise OutputExistsError(
            f"output folder {folder} is not empty; choose another or pass --force to overwrite"
        )
    foreign = [name for name in names if name not in OUTPUT_NAMES]
    if foreign:
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                           else "")
        raise OutputExistsError(
            f"output folder {folder} holds files angioseg does not write ({listed}); --force "
            "replaces the whole folder, so move them out or choose another folder"
        )
    if folder.is_dir():
        resolved = folder.resolve()
        for path in keep:
            inside = Path(path).resolve()
            if inside == resolved or resolved in inside.parents:
                raise OutputExistsError(
                    f"the input {path} is inside the output folder {folder}; --force would "
                    "delete it: choose another output folder"
                )
    check_writable_folder(folder.parent)
    return folder


@contextlib.contextmanager
def reserve_output_folder(
    folder: str | os.PathLike[str],
    force: bool = False,
    *,
    keep: Sequence[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Check ``folder`` (:func:`check_output_folder`) and hold it for this process for the block.

    A second process that reserves the same folder meanwhile fails at once with
    :class:`~AngioSegLib.errors.OutputBusyError`; the lock file (``.<name>.lock`` beside the
    folder) is removed when the block ends. :func:`write_outputs` itself takes no lock.
    """
    folder = check_output_folder(folder, force, keep=keep)
    with exclusive_lock(folder, f"another angioseg run is writing {folder}; wait for it to "
                                "finish or choose another output folder"):
        check_output_folder(folder, force, keep=keep)  # a run may have finished just before
        yield folder


def estimate_output_bytes(shape: Sequence[int]) -> int:
    """A rough upper size of the outputs of a run of ``shape`` (frames, rows, columns), in bytes."""
    frames, rows, columns = (int(n) for n in shape)
    return BYTES_PER_PIXEL * frames * rows * columns + REPORT_BYTES


def check_free_space(folder: str | os.PathLike[str], n_bytes: int) -> None:
    """Raise :class:`~AngioSegLib.errors.OutputNotWritableError` when the disk that will hold
    ``folder`` has less than ``n_bytes`` free (see :func:`estimate_output_bytes`)."""
    parent = check_writable_folder(Path(folder).parent)
    free = shutil.disk_usage(parent).free
    if free < n_bytes:
        raise OutputNotWritableError(
            f"not enough free space for the outputs in {parent}: about {n_bytes / 1e6:.1f} MB "
            f"needed, {free / 1e6:.1f} MB free; free some space or choose another output folder"
        )


def write_outputs(
    result: Result,
    folder: str | os.PathLike[str],
    options: OutputOptions | None = None,
    progress: ProgressCallback = no_progress,
) -> OutputPaths:
    """Write SEG, labelmaps, overlay video, report and tables of ``result`` into ``folder``.

    The folder is replaced as a whole once every file is written (see the module's docstring);
    an existing non-empty folder only with ``options.force``.
    """
    options = options or OutputOptions()
    folder = check_output_folder(folder, options.force, keep=options.copies)
    staging = hidden_path(folder.parent, f".{folder.name}.")
    try:
        staging.mkdir(mode=0o700)  # private while written (see hidden_path: inside the try)
        seg = _write_all(result, staging, options, progress)
        for source in options.copies:
            shutil.copyfile(source, staging / Path(source).name)
        names = sorted(path.name for path in staging.iterdir())
        staging.chmod(0o755)  # outputs are an ordinary readable folder
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already unless something failed
    report = folder / "report.html"
    return OutputPaths(
        folder=folder,
        files=tuple(folder / name for name in names),
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
            if seg_path is not None and result.analysis and result.analysis.segments:
                _write_sr(result, seg_path, staging)
            if seg_path is not None and result.anatomy is not None:
                _write_anatomy_seg(result, staging, progress, done, len(steps))
        elif step == "labelmaps":
            _write_labelmaps(result, staging)
        elif step == "video":
            _write_video(result, staging)
        else:
            from AngioSegLib.outputs.report import write_report

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


def _write_anatomy_seg(
    result: Result, staging: Path, progress: ProgressCallback, done: int, total: int
) -> Path | None:
    """anatomy.dcm beside segmentation.dcm: one SEG segment per SYNTAX segment of the run. A run
    whose anatomy names no pixel gets none (a SEG needs a segment); the progress message says so.
    """
    if not result.anatomy.any():
        progress(Progress("write", done, total,
                          "no anatomy.dcm: no pixel of the run names a SYNTAX segment"))
        return None
    from AngioSegLib.io.anatomy_seg import write_anatomy_seg

    return write_anatomy_seg(
        result.cine,
        result.anatomy,
        staging / "anatomy.dcm",
        algorithm_name=f"AngioSeg {result.model_name}",
        algorithm_version=result.model_version or "0",
    )


def _write_sr(result: Result, seg_path: Path, staging: Path) -> Path:
    """measurements.dcm: the QCA as a DICOM SR measurement report beside the SEG it references."""
    from AngioSegLib import __version__
    from AngioSegLib.io.sr import SrAlgorithm, write_sr

    algorithm = SrAlgorithm(f"AngioSeg {result.model_name}", result.model_version or "0",
                            __version__)
    return write_sr(result.analysis, result.cine, seg_path, staging / "measurements.dcm",
                    algorithm)


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
    if result.anatomy is not None:
        _write_anatomy(result, staging)


def _write_anatomy(result: Result, staging: Path) -> None:
    """anatomy.seq.nrrd and anatomy.nii.gz (SYNTAX label values per vessel pixel) and their
    colour table anatomy.ctbl."""
    from AngioSegLib.anatomy.segments import SEGMENT_CLASSES, SEGMENTS
    from AngioSegLib.io.labelmap import (
        write_colour_table,
        write_labelmap_nifti,
        write_labelmap_sequence,
    )

    spacing, times = result.cine.calibration.mm_per_pixel, result.cine.frame_times_s
    top = SEGMENT_CLASSES - 1
    write_labelmap_sequence(result.anatomy, staging / "anatomy.seq.nrrd", spacing_mm=spacing,
                            frame_times_s=times, max_label=top)
    write_labelmap_nifti(result.anatomy, staging / "anatomy.nii.gz", spacing_mm=spacing,
                         frame_times_s=times, max_label=top,
                         description="AngioSeg coronary segments (SYNTAX); z = frame")
    names = {0: ("background", (0, 0, 0))}
    names.update({s.value: (f"{s.syntax} {s.name}", s.colour) for s in SEGMENTS})
    write_colour_table(names, staging / "anatomy.ctbl")


def _write_video(result: Result, staging: Path) -> None:
    from AngioSegLib.outputs.overlay import (
        intensity_window,
        write_overlay_video,
        write_preview_gif,
    )
    from AngioSegLib.outputs.report import stenosis_markers

    frames = result.cine.frames  # a lazy run is read a frame at a time, never decoded whole
    markers = stenosis_markers(result)
    fps = result.cine.frame_rate_hz or 15.0
    window = intensity_window(frames)
    write_overlay_video(frames, result.masks, staging / "overlay.mp4", fps=fps,
                        stenosis_markers=markers, window=window)
    write_preview_gif(frames, result.masks, staging / "preview.gif", fps=fps,
                      stenosis_markers=markers, window=window)
