"""Progress reporting: the library never prints, it calls a callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress event: ``stage`` ("segment", "temporal", ...) at item ``done`` of ``total``."""

    stage: str
    done: int
    total: int
    message: str = ""


ProgressCallback = Callable[[Progress], None]
"""Called with each event. Raising :class:`~AngioSegLib.errors.CancelledError` inside it cancels."""


def no_progress(_: Progress) -> None:
    """The default callback: ignore progress."""
