"""The batch's tables: ``summary.csv`` and ``summary.json`` (one row per run) and ``stenoses.csv``
(every stenosis of every run, with the run's key). Each is written atomically (a temporary file
renamed onto the name), so a reader never sees half a table, and rewritten as runs finish.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from AngioSegLib.batch.records import SUMMARY_COLUMNS, RunRecord, RunStatus
from AngioSegLib.io.atomic import atomic_write
from AngioSegLib.outputs.tables import column_names
from AngioSegLib.qca.results import Stenosis

SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
STENOSES_CSV = "stenoses.csv"
TABLE_NAMES = (SUMMARY_CSV, SUMMARY_JSON, STENOSES_CSV)


def count_statuses(records: Sequence[RunRecord]) -> dict[str, int]:
    """How many runs are ok, failed and skipped."""
    counts = {status.value: 0 for status in RunStatus}
    for record in records:
        counts[record.status.value] += 1
    return counts


def write_tables(folder: Path, records: Sequence[RunRecord], batch: dict) -> None:
    """Write the three tables of ``records`` into ``folder``; ``batch`` describes the batch
    (inputs, workers, start and end) in ``summary.json``."""
    _write_text(folder / SUMMARY_CSV, _csv([r.summary_row() for r in records], SUMMARY_COLUMNS))
    document = {"batch": {**batch, "runs": len(records), "statuses": count_statuses(records)},
                "runs": [record.to_json() for record in records]}
    _write_text(folder / SUMMARY_JSON, json.dumps(document, indent=2, default=str))
    stenoses = [row for record in records for row in record.stenosis_rows]
    columns: dict[str, None] = {"key": None}
    if not stenoses:  # the header all the same (as qca.csv's), in mm
        columns.update(dict.fromkeys(column_names(Stenosis, "mm")))
    for row in stenoses:
        columns.update(dict.fromkeys(key for key, value in row.items()
                                     if not isinstance(value, (list, dict))))
    _write_text(folder / STENOSES_CSV, _csv(stenoses, tuple(columns)))


def read_summary(folder: Path) -> list[dict]:
    """The rows of ``folder/summary.csv`` as dicts of strings (for tests and tools)."""
    with open(folder / SUMMARY_CSV, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path, force=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
