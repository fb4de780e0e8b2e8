"""A rich progress bar that shows each stage with its items and their rate (frames/s, steps/s)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from AngioSegLib.progress import Progress, ProgressCallback

STAGE_UNITS = {"train": "steps", "validate": "epochs"}  # every other stage counts frames


class _RateColumn(ProgressColumn):
    """Items per second of a task in its unit, e.g. '3.2 frames/s'."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "frames")
        counted = (task.total or 0) > 1  # a one-step task (loading the model) has no rate
        return Text(f"{speed:5.1f} {unit}/s" if speed and counted else "", style="cyan")


@contextmanager
def stage_progress(quiet: bool = False) -> Iterator[ProgressCallback]:
    """Yield a :data:`ProgressCallback` that draws one bar per stage on stderr."""
    bar = RichProgress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def update(event: Progress) -> None:
        if event.stage not in tasks:
            tasks[event.stage] = bar.add_task(
                event.stage, total=event.total, unit=STAGE_UNITS.get(event.stage, "frames"))
        bar.update(tasks[event.stage], completed=event.done, total=event.total)

    with bar:
        yield update
