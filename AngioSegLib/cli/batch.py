"""`angioseg batch`: analyse many runs (files, folders, DICOMDIR, manifest CSV) into one folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from AngioSegLib.cli import stage_options as so

MAX_LISTED_FAILURES = 10
LOG_NAME = "batch.log"
"""The batch's log in its output folder: the details (tracebacks) of unexpected failures."""


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Send AngioSeg's warnings and errors to ``path`` (opened only if something is logged),
    so that the terminal keeps its one line per failed run."""
    import logging

    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("AngioSegLib")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


@contextmanager
def _runs_progress(quiet: bool) -> Iterator:
    """A progress callback that draws one bar over the runs, with their rate and an ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.description}"),
        console=Console(stderr=True), disable=quiet,
    )
    task = None
    start = [0]

    def update(event) -> None:
        nonlocal task
        if task is None:
            # runs already complete (--resume) do not count towards the rate and the ETA
            task = bar.add_task("", total=event.total - event.done)
            bar.update(task, description=event.message, completed=0)
            start[0] = event.done
            return
        bar.update(task, completed=event.done - start[0], description=event.message)

    with bar:
        yield update


def _print_result(result, quiet: bool) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    counts = result.counts
    console.print(
        f"{len(result.records)} runs: [green]{counts['ok']} ok[/], "
        f"[red]{counts['failed']} failed[/], {counts['skipped']} skipped; "
        f"summary in [bold]{result.output / 'summary.csv'}[/]"
    )
    failed = [r for r in result.records if r.status.value == "failed"]
    for record in failed[:MAX_LISTED_FAILURES]:
        console.print(f"[red]failed[/] {escape(record.input)}: {escape(record.reason)}",
                      soft_wrap=True)
    if len(failed) > MAX_LISTED_FAILURES:
        console.print(f"… and {len(failed) - MAX_LISTED_FAILURES} more (see summary.csv)")


def batch(
    inputs: list[Path] = typer.Argument(
        ..., metavar="INPUTS...",
        help="XA DICOM files, folders (searched through), DICOMDIRs or manifest CSVs.",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder of the batch."),
    resume: bool = typer.Option(
        False, "--resume", help="Skip runs whose outputs are complete; do the others."
    ),
    force: bool = typer.Option(False, "--force", help="Do every run again, replacing outputs."),
    workers: int = typer.Option(
        None, "--workers", help="Run on a local Dask cluster of N worker processes."
    ),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Run on an existing Dask cluster, e.g. tcp://host:8786."
    ),
    model: str = so.MODEL,
    device: str = so.DEVICE,
    backend: str = so.BACKEND,
    precision: str = so.PRECISION,
    batch_size: int = so.BATCH_SIZE,
    scale: float = so.SCALE,
    max_size: int = so.MAX_SIZE,
    threads: int = typer.Option(
        None, help="CPU threads per run (default: shared out among the cores and --workers)."
    ),
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
    mld_method: str = so.MLD_METHOD,
    diameter_method: str = so.DIAMETER_METHOD,
    border_method: str = so.BORDER_METHOD,
    no_video: bool = typer.Option(False, "--no-video", help="Skip the overlay video and GIF."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the HTML report."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> int:
    """Segment and measure every run found; one folder per run, summary.csv and stenoses.csv.

    Exit code 0 when no run failed, 1 when some did (each with its reason in summary.csv).
    """
    from AngioSegLib.batch import BatchOptions, run_batch
    from AngioSegLib.outputs.writers import OutputOptions
    from AngioSegLib.pipeline import PipelineOptions
    from AngioSegLib.qca.options import QcaOptions

    pipeline = PipelineOptions(
        model=model,
        inference=so.inference_options(device, backend, precision, batch_size, scale, max_size,
                                       None, field_of_view, auto_scale,
                                       clear_catheters, flip_average),  # threads: per run
        temporal=so.temporal_options(temporal_k, no_motion_compensation, temporal_weights,
                                     temporal_sigma, reliability_grey, flow_preset, flow_scale,
                                     clahe, threshold),
        qca=QcaOptions(mld_method=mld_method, diameter_method=diameter_method,
                       border_method=border_method),
    )
    options = BatchOptions(
        output=output,
        pipeline=pipeline,
        outputs=OutputOptions(video=not no_video, report=not no_report),
        resume=resume, force=force, workers=workers, scheduler=scheduler, threads=threads,
    )
    with _log_to(options.output / LOG_NAME), _runs_progress(quiet) as progress:
        result = run_batch(inputs, options, progress)
    _print_result(result, quiet)
    return 0 if result.all_succeeded else 1


def register(app: typer.Typer) -> None:
    """Add ``batch`` to ``app``."""
    app.command("batch")(batch)
