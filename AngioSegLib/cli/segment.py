"""`angioseg segment` and `angioseg demo`: run the whole pipeline and write every output."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer

from AngioSegLib.cli import pacs_io
from AngioSegLib.cli import stage_options as so
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


def _catheter(french: float | None, points: str | None, frame: int):
    """The catheter flags as a :class:`~AngioSegLib.pipeline.CatheterCalibration` (None: none)."""
    from AngioSegLib.errors import InputError
    from AngioSegLib.pipeline import CatheterCalibration

    if (french is None) != (points is None):
        raise InputError("catheter calibration needs both --catheter-french and "
                         "--catheter-points (two pixels on the catheter)")
    return None if french is None else CatheterCalibration(french, _parse_points(points), frame)


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
    from AngioSegLib.outputs.tables import qca_document

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
        "qca": qca_document(analysis) if analysis is not None else None,
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
    model: str = so.MODEL,
    device: str = so.DEVICE,
    backend: str = so.BACKEND,
    precision: str = so.PRECISION,
    batch_size: int = so.BATCH_SIZE,
    scale: float = so.SCALE,
    max_size: int = so.MAX_SIZE,
    threads: int = so.THREADS,
    field_of_view: bool = so.FIELD_OF_VIEW,
    clear_catheters: bool = so.CATHETERS,
    flip_average: bool = so.FLIP_AVERAGE,
    auto_scale: bool = so.AUTO_SCALE,
    temporal_k: int = so.TEMPORAL_K,
    no_motion_compensation: bool = so.NO_MOTION_COMPENSATION,
    temporal_weights: str = so.TEMPORAL_WEIGHTS,
    temporal_sigma: float = so.TEMPORAL_SIGMA,
    reliability_grey: float = so.RELIABILITY_GREY,
    flow_preset: str = so.FLOW_PRESET,
    flow_scale: float = so.FLOW_SCALE,
    clahe: bool = so.CLAHE,
    threshold: float = so.THRESHOLD,
    catheter_french: float = typer.Option(
        None, help="Catheter size in French (1 F = 1/3 mm) for catheter calibration."
    ),
    catheter_points: str = typer.Option(
        None, help="Two pixels on the catheter, 'row1,col1,row2,col2' (with --catheter-french)."
    ),
    catheter_frame: int = typer.Option(0, help="Frame the catheter points are on."),
    mld_method: str = so.MLD_METHOD,
    diameter_method: str = so.DIAMETER_METHOD,
    border_method: str = so.BORDER_METHOD,
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
    from AngioSegLib.qca.options import QcaOptions

    options = PipelineOptions(
        model=model,
        inference=so.inference_options(device, backend, precision, batch_size, scale, max_size,
                                       threads, field_of_view, auto_scale,
                                       clear_catheters, flip_average),
        temporal=so.temporal_options(temporal_k, no_motion_compensation, temporal_weights,
                                     temporal_sigma, reliability_grey, flow_preset, flow_scale,
                                     clahe, threshold),
        catheter=_catheter(catheter_french, catheter_points, catheter_frame),
        qca=QcaOptions(mld_method=mld_method, diameter_method=diameter_method,
                       border_method=border_method, analysis_frame=qca_frame,
                       segment_points=_parse_qca_points(qca_points)),
    )
    target = pacs_io.prepare_store(store, token_file, timeout)
    keep = pacs_io.local_inputs(input_path)
    with reserve_output_folder(output, force, keep=keep) as output, \
            pacs_io.open_input(input_path, token_file, timeout) as source:
        cine = read_cine(source)
        pacs_io.check_storable(target, cine)
        _, paths = run_and_write(cine, options, output, force, fractional_seg, as_json)
        pacs_io.store_outputs(target, paths)


def demo(
    output: Path = typer.Option(Path("angioseg-demo"), "-o", "--output", help="Output folder."),
    frames: int = typer.Option(30, help="Frames in the generated run."),
    size: int = typer.Option(512, help="Frame size (pixels)."),
    seed: int = typer.Option(0, help="Phantom seed."),
    device: str = so.DEVICE,
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
    from AngioSegLib.segment.options import InferenceOptions

    options = PipelineOptions(inference=InferenceOptions(device=device))
    console = Console(stderr=True)
    start = time.perf_counter()
    with reserve_output_folder(output, force) as output, tempfile.TemporaryDirectory() as tmp:
        check_free_space(output, estimate_output_bytes((frames, size, size)))
        phantom = make_phantom(PhantomOptions(seed=seed, n_frames=frames, size=size))
        source = write_xa(phantom.cine, Path(tmp) / "phantom_xa.dcm", transfer_syntax="jpeg-ls")
        console.print(f"Generated a {frames}-frame {size}² phantom XA run (seed {seed})")
        result, _ = run_and_write(
            read_cine(source), options, output, force, False, False,
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
