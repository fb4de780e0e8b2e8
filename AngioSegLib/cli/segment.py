"""`angioseg segment` and `angioseg demo`: run the whole pipeline and write every output."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer

from AngioSegLib.cli import pacs_io
from AngioSegLib.cli.progress_bar import stage_progress


def _parse_points(text: str | None) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """'r1,c1,r2,c2' → ((r1, c1), (r2, c2))."""
    if text is None:
        return None
    from AngioSegLib.errors import InputError

    try:
        r1, c1, r2, c2 = (float(v) for v in text.split(","))
    except ValueError as error:
        raise InputError(
            f"--catheter-points needs four numbers 'row1,col1,row2,col2' in pixels, found {text!r}"
        ) from error
    return (r1, c1), (r2, c2)


def _parse_qca_points(text: str | None) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """'r1,c1 r2,c2' (or 'r1,c1,r2,c2') → ((r1, c1), (r2, c2)): a QCA segment's start and end."""
    if text is None:
        return None
    from AngioSegLib.errors import InputError

    try:
        r1, c1, r2, c2 = (float(v) for v in text.replace(" ", ",").split(",") if v)
    except ValueError as error:
        raise InputError(
            f"--qca-points needs two pixels 'row1,col1 row2,col2' (proximal first), found {text!r}"
        ) from error
    return (r1, c1), (r2, c2)


def _summary(result, paths) -> dict:
    """The machine-readable summary printed by --json."""
    analysis = result.analysis
    return {
        "output": str(paths.folder),
        "report": str(paths.report) if paths.report else None,
        "files": [p.name for p in paths.files],
        "frames": result.cine.n_frames,
        "model": result.model_name,
        "device": result.device,
        "calibration": result.cine.calibration.source.value,
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
        "qca": analysis.to_json() if analysis is not None else None,
    }


def _print_summary(result, paths) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    cine = result.cine
    seconds = sum(result.timings_s.values())
    console.print(
        f"[bold]{cine.n_frames} frames[/] {cine.shape[2]}×{cine.shape[1]}, {cine.view.label}, "
        f"calibration: {cine.calibration.source.value}; model {result.model_name} on "
        f"{result.device}; {seconds:.1f} s ({cine.n_frames / max(seconds, 1e-9):.1f} frames/s)"
    )
    for warning in cine.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if result.analysis is not None:
        for line in result.analysis.summary_lines():
            console.print(line)
    if paths.seg is None:
        console.print("[yellow]note:[/] no DICOM SEG: the input is not DICOM")
    console.print(f"Outputs in [bold]{paths.folder}[/]; open [bold]{paths.report}[/]")


def run_and_write(
    cine, options, outdir: Path, force: bool, fractional: bool, as_json: bool,
    copies: tuple[Path, ...] = (),
):
    """Check the free space, run the pipeline with a progress bar, write outputs, print the summary.

    The caller holds ``outdir`` (:func:`~AngioSegLib.outputs.writers.reserve_output_folder`).
    """
    from AngioSegLib.outputs.writers import (
        OutputOptions,
        check_free_space,
        estimate_output_bytes,
        write_outputs,
    )
    from AngioSegLib.pipeline import run

    check_free_space(outdir, estimate_output_bytes(cine.shape))
    output_options = OutputOptions(force=force, fractional_seg=fractional, copies=copies)
    with stage_progress(quiet=as_json) as progress:
        result = run(cine, options, progress=progress)
        paths = write_outputs(result, outdir, output_options, progress)
    if as_json:
        typer.echo(json.dumps(_summary(result, paths), indent=2))
    else:
        _print_summary(result, paths)
    return result, paths


def segment(
    input_path: str = typer.Argument(
        ..., metavar="INPUT", help="XA DICOM file, folder or video, or a DICOMweb series URL "
        "http(s)://…/studies/{StudyUID}/series/{SeriesUID}."
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Output folder: new or empty (or replaced with --force)."
    ),
    model: str = typer.Option(None, help="Model name or bundle folder (default: shipped model)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option(
        "auto", help="auto, fp32, int8 (CPU, faster), bf16 or fp16 (GPU)."
    ),
    temporal_k: int = typer.Option(2, help="Temporal filter half-width K (frames); 0 = off."),
    no_motion_compensation: bool = typer.Option(
        False, "--no-motion-compensation", help="Plain temporal average (no optical flow)."
    ),
    threshold: float = typer.Option(0.5, help="Vessel probability threshold for the masks."),
    catheter_french: float = typer.Option(
        None, help="Catheter size in French (1 F = 1/3 mm) for catheter calibration."
    ),
    catheter_points: str = typer.Option(
        None, help="Two pixels on the catheter, 'row1,col1,row2,col2' (with --catheter-french)."
    ),
    mld_method: str = typer.Option(
        "densitometric", help="MLD from the frame's contrast (densitometric) or the edges (edge)."
    ),
    qca_frame: int = typer.Option(
        None, help="Frame to run QCA on (default: end-diastole near peak opacification)."
    ),
    qca_points: str = typer.Option(
        None, help="The QCA segment's start and end pixels, 'row1,col1 row2,col2' (proximal "
        "first); default: every vessel."
    ),
    fractional_seg: bool = typer.Option(False, help="Store probabilities in the DICOM SEG."),
    force: bool = typer.Option(
        False, "--force", help="Replace the outputs of an earlier run in OUTPUT (once all are new)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    store: str = typer.Option(None, "--store", help=pacs_io.STORE_HELP),
    token_file: Path = typer.Option(None, "--token-file", help=pacs_io.TOKEN_FILE_HELP),
    timeout: float = typer.Option(30.0, "--timeout", help=pacs_io.TIMEOUT_HELP),
) -> None:
    """Segment and measure every frame of an XA cine; write SEG, SR, labelmaps, video and report."""
    from AngioSegLib.io import read_cine
    from AngioSegLib.outputs.writers import reserve_output_folder
    from AngioSegLib.pipeline import PipelineOptions
    from AngioSegLib.qca.analysis import QcaOptions

    target = pacs_io.prepare_store(store, token_file, timeout)
    keep = pacs_io.local_inputs(input_path)
    with reserve_output_folder(output, force, keep=keep) as output, \
            pacs_io.open_input(input_path, token_file, timeout) as source:
        options = PipelineOptions(
            model=model,
            device=device,
            precision=precision,
            temporal_k=temporal_k,
            motion_compensation=not no_motion_compensation,
            threshold=threshold,
            catheter_french=catheter_french,
            catheter_points=_parse_points(catheter_points),
            qca=QcaOptions(mld_method=mld_method, analysis_frame=qca_frame,
                           segment_points=_parse_qca_points(qca_points)),
        )
        cine = read_cine(source)
        pacs_io.check_storable(target, cine)
        _, paths = run_and_write(cine, options, output, force, fractional_seg, as_json)
        pacs_io.store_outputs(target, paths)


def demo(
    output: Path = typer.Option(Path("angioseg-demo"), "-o", "--output", help="Output folder."),
    frames: int = typer.Option(30, help="Frames in the generated run."),
    size: int = typer.Option(512, help="Frame size (pixels)."),
    seed: int = typer.Option(0, help="Phantom seed."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    force: bool = typer.Option(
        False, "--force", help="Replace the outputs of an earlier run in OUTPUT (once all are new)."
    ),
) -> None:
    """Generate a phantom XA run, run the whole pipeline on it and write every output."""
    from rich.console import Console

    from AngioSegLib.evaluation.metrics import score_segmentation
    from AngioSegLib.io import read_cine
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.outputs.writers import (
        check_free_space,
        estimate_output_bytes,
        reserve_output_folder,
    )
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
    from AngioSegLib.pipeline import PipelineOptions

    console = Console(stderr=True)
    start = time.perf_counter()
    with reserve_output_folder(output, force) as output, tempfile.TemporaryDirectory() as tmp:
        check_free_space(output, estimate_output_bytes((frames, size, size)))
        phantom = make_phantom(PhantomOptions(seed=seed, n_frames=frames, size=size))
        source = write_xa(phantom.cine, Path(tmp) / "phantom_xa.dcm", transfer_syntax="jpeg-ls")
        console.print(f"Generated a {frames}-frame {size}² phantom XA run (seed {seed})")
        result, _ = run_and_write(
            read_cine(source), PipelineOptions(device=device), output, force, False, False,
            copies=(source,),
        )
    scores = score_segmentation(result.masks, phantom.masks)
    planted = ", ".join(
        f"{s.segment} {s.percent_diameter:.0f} %DS (MLD {s.mld_mm:.2f} mm)"
        for s in phantom.stenoses
    )
    console.print(f"Planted in the phantom: {planted}")
    console.print(
        f"Against the phantom's ground truth: Dice {scores.dice:.3f}, clDice {scores.cldice:.3f}; "
        f"total {time.perf_counter() - start:.1f} s; the input is {output / source.name}"
    )


def register(app: typer.Typer) -> None:
    """Add ``segment`` and ``demo`` to ``app``."""
    app.command("segment")(segment)
    app.command("demo")(demo)
