"""What a batch passes around: a run to do (:class:`RunSpec`), the settings every run shares
(:class:`BatchSettings`), and the row a run leaves in the summary (:class:`RunRecord`).

All are frozen, picklable dataclasses: they travel to Dask workers and back.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from AngioSegLib.outputs.writers import OutputOptions
from AngioSegLib.pipeline import CatheterCalibration, PipelineOptions


class RunStatus(str, enum.Enum):
    """A run's outcome in the summary (accepts the enum or its string value)."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RunSpec:
    """One run to analyse.

    ``key`` names its output folder (the SeriesInstanceUID, else a slug of the path; a manifest's
    ``name`` when given). ``source`` is the file or folder read; ``files`` the single-frame
    instances of one series when the folder holds others too (empty: read ``source`` as it is).
    ``identity`` is what makes two inputs the same run (the SOP Instance UIDs, else the resolved
    path). ``catheter``: the run's own catheter calibration (a manifest's columns), if any.
    """

    key: str
    source: Path
    label: str
    identity: str
    files: tuple[Path, ...] = ()
    series_uid: str | None = None
    catheter: CatheterCalibration | None = None


@dataclass(frozen=True)
class BatchSettings:
    """What every run of a batch shares: the output root, the pipeline and output options, and
    the CPU threads one run may use (``None``: the library's default)."""

    output: Path
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)
    outputs: OutputOptions = field(default_factory=lambda: OutputOptions(force=True))
    threads: int | None = None


SUMMARY_COLUMNS = (
    "key", "status", "reason", "input", "frames", "rows", "columns", "calibration",
    "mm_per_pixel", "model", "device", "stenoses", "worst_ds_percent", "worst_segment",
    "read_s", "segment_s", "temporal_s", "quantify_s", "write_s", "total_s", "worker", "output",
)
"""The columns of ``summary.csv``, in order (every field of :class:`RunRecord` but the
stenoses' details, which go to ``stenoses.csv``)."""


@dataclass(frozen=True)
class RunRecord:
    """One row of the summary. Times in s; ``worst_ds_percent`` the most severe stenosis' percent
    diameter stenosis; ``calibration`` the source of the mm/pixel scale; ``worker`` host:pid;
    ``output`` the run's folder relative to the batch's output; ``stenosis_rows`` the run's
    stenoses as ``qca.json`` lists them (lengths' keys end with their unit)."""

    key: str
    status: RunStatus
    input: str
    reason: str = ""
    frames: int | None = None
    rows: int | None = None
    columns: int | None = None
    calibration: str | None = None
    mm_per_pixel: float | None = None
    model: str | None = None
    device: str | None = None
    stenoses: int | None = None
    worst_ds_percent: float | None = None
    worst_segment: str | None = None
    read_s: float | None = None
    segment_s: float | None = None
    temporal_s: float | None = None
    quantify_s: float | None = None
    write_s: float | None = None
    total_s: float | None = None
    worker: str | None = None
    output: str | None = None
    stenosis_rows: tuple[dict, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))

    def to_json(self) -> dict:
        """A JSON-ready dict of every field (``stenosis_rows`` as the list ``stenoses_detail``)."""
        data = asdict(self)
        data["status"] = self.status.value
        data["stenoses_detail"] = list(data.pop("stenosis_rows"))
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunRecord:
        """The record :meth:`to_json` gave (unknown keys are ignored: newer markers read)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["stenosis_rows"] = tuple(data.get("stenoses_detail") or ())
        return cls(**values)

    def summary_row(self) -> dict:
        """The ``summary.csv`` row: :data:`SUMMARY_COLUMNS` only, None as an empty cell."""
        data = self.to_json()
        return {name: "" if data[name] is None else data[name] for name in SUMMARY_COLUMNS}
