"""`angioseg batch`: analyse many runs (files, folders, DICOMDIR, manifest CSV) into one folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

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
    model: str = typer.Option(None, help="Model name or bundle folder (default: shipped model)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option(
        "auto", help="auto, fp32, int8 (CPU, faster), bf16 or fp16 (GPU)."
    ),
    temporal_k: int = typer.Option(2, help="Temporal filter half-width K (frames); 0 = off."),
    threshold: float = typer.Option(0.5, help="Vessel probability threshold for the masks."),
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

    options = BatchOptions(
        output=output,
        pipeline=PipelineOptions(model=model, device=device, precision=precision,
                                 temporal_k=temporal_k, threshold=threshold),
        outputs=OutputOptions(video=not no_video, report=not no_report),
        resume=resume, force=force, workers=workers, scheduler=scheduler,
    )
    with _log_to(options.output / LOG_NAME), _runs_progress(quiet) as progress:
        result = run_batch(inputs, options, progress)
    _print_result(result, quiet)
    return 0 if result.all_succeeded else 1


def register(app: typer.Typer) -> None:
    """Add ``batch`` to ``app``."""
    app.command("batch")(batch)
