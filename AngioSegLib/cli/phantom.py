"""`angioseg phantom`: write a synthetic coronary angiography run as an XA DICOM file."""

from __future__ import annotations

from pathlib import Path

import typer


def phantom(
    output: Path = typer.Option(..., "--output", "-o", help="XA DICOM file to write (.dcm)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same run."),
    frames: int = typer.Option(30, "--frames", help="Number of frames."),
    size: int = typer.Option(512, help="Frame width and height (pixels)."),
    fps: float = typer.Option(15.0, help="Frame rate (frames/s)."),
    mm_per_pixel: float | None = typer.Option(
        None, "--mm-per-pixel", help="Pixel size at the isocenter (mm); default 0.2 at 512 px."
    ),
    tree: str = typer.Option("left", help="Coronary tree: left (LM/LAD/LCx) or right (RCA)."),
    transfer_syntax: str = typer.Option(
        "explicit",
        "--transfer-syntax",
        help="explicit, implicit, rle, jpeg-ls, jpeg2000 or jpeg-baseline (lossy, 8-bit).",
    ),
    masks_out: Path | None = typer.Option(
        None,
        "--masks-out",
        help="Also write the true vessel masks: .nii.gz or .seq.nrrd (Slicer volume sequence).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
) -> None:
    """Write a synthetic angiography run (vessel tree, stenoses, motion, contrast inflow)."""
    from AngioSegLib.io.atomic import check_output_path
    from AngioSegLib.io.xa_write import check_transfer_syntax, write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    check_transfer_syntax(transfer_syntax)
    check_output_path(output, force=force)
    if masks_out is not None:
        _check_masks_suffix(masks_out)
        check_output_path(masks_out, force=force)
    options = PhantomOptions(
        seed=seed, n_frames=frames, size=size, fps=fps, mm_per_pixel=mm_per_pixel, tree=tree
    )
    run = make_phantom(options)
    path = write_xa(run.cine, output, transfer_syntax=transfer_syntax, force=force)
    written = str(path)
    if masks_out is not None:
        written += f" and masks {_write_masks(run, masks_out, force)}"
    lesions = ", ".join(f"{s.segment} {s.percent_diameter:.0f}%" for s in run.stenoses)
    print(
        f"wrote {written}: {run.cine.n_frames} frames {size}×{size}, "
        f"{options.pixel_mm:.3f} mm/pixel, {options.tree} tree, stenoses {lesions or 'none'}"
    )


def _check_masks_suffix(path: Path) -> None:
    from AngioSegLib.errors import InputError

    if not path.name.endswith((".nii.gz", ".nii", ".seq.nrrd")):
        raise InputError(f"--masks-out must end with .nii.gz, .nii or .seq.nrrd, found {path.name}")


def _write_masks(run, path: Path, force: bool) -> Path:
    from AngioSegLib.io.labelmap import write_labelmap_nifti, write_labelmap_sequence

    writer = write_labelmap_sequence if path.name.endswith(".seq.nrrd") else write_labelmap_nifti
    return writer(
        run.masks,
        path,
        spacing_mm=run.cine.calibration.mm_per_pixel,
        frame_times_s=run.cine.frame_times_s,
        force=force,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("phantom")(phantom)
