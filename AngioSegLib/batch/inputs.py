"""Find the runs of a batch: files, folders (searched through), DICOMDIRs and manifest CSVs.

Every XA run found becomes one :class:`~.records.RunSpec`: a multi-frame
instance is a run; single-frame instances form one run per series and folder. A file that looks
like DICOM (``DICM`` preamble, or a ``.dcm`` name) but whose header cannot be read is kept as a
run of its own, so that it fails in the summary with the reader's reason instead of vanishing;
DICOM files that are not angiography (a SEG, a report, a CT) and files that are not DICOM are
passed over in folders. A run found twice (the same SOP Instance UIDs: a copied file, a folder
given with a file inside it) is a duplicate: kept once, the others listed in
:attr:`Discovery.duplicates`.

A manifest is a CSV file (``.csv``) with a ``path`` column and, optionally, ``name`` (the run's
output folder), ``catheter_french``, ``catheter_points`` ('row1,col1,row2,col2' in pixels) and
``catheter_frame``; without a header row the columns are taken in that order. Relative paths are
relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from AngioSegLib.batch.records import RunSpec
from AngioSegLib.errors import InputError, InputNotFoundError
from AngioSegLib.pipeline import CatheterCalibration

MANIFEST_COLUMNS = ("path", "name", "catheter_french", "catheter_points", "catheter_frame")
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
VIDEO_AND_IMAGE_SUFFIXES = frozenset(
    ".mp4 .avi .mov .mkv .m4v .wmv .png .tif .tiff".split()
)
_HEADER_TAGS = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "Modality",
                "NumberOfFrames", "InstanceNumber")
_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
# what pydicom raises for a file or a DICOMDIR it cannot parse, besides its InvalidDicomError
_PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, EOFError, OSError)


@dataclass(frozen=True)
class Duplicate:
    """A run found again: ``spec`` is the second find, ``first`` the label of the one kept."""

    spec: RunSpec
    first: str


@dataclass(frozen=True)
class Discovery:
    """The runs to do, in the order found, and the duplicates passed over."""

    runs: tuple[RunSpec, ...]
    duplicates: tuple[Duplicate, ...] = ()


@dataclass(frozen=True)
class _Header:
    path: Path
    sop_instance_uid: str
    series_uid: str | None
    multiframe: bool


def find_runs(inputs: Sequence[str | os.PathLike[str]], *, exclude: Iterable[Path] = ()
              ) -> Discovery:
    """Every run in ``inputs`` (files, folders, DICOMDIRs, manifest CSVs), duplicates apart.

    ``exclude``: folders not to search (the batch's own output). Paths in the runs are absolute
    (a worker on another machine has another working folder). Raises
    :class:`~AngioSegLib.errors.InputNotFoundError` for an input that does not exist and
    :class:`~AngioSegLib.errors.InputError` for a manifest that cannot be used or when nothing
    is found at all; a single bad run is not an error here (it fails when it is run).
    """
    if not inputs:
        raise InputError("no inputs: give files, folders, a DICOMDIR or a manifest CSV")
    excluded = tuple(Path(p).resolve() for p in exclude)
    specs: list[RunSpec] = []
    for given in inputs:
        path = Path(os.path.abspath(Path(given).expanduser()))  # workers elsewhere: no cwd
        if not path.exists():
            raise InputNotFoundError(f"the input {path} does not exist; check the path")
        if path.is_file() and path.suffix.lower() == ".csv":
            specs.extend(_manifest_runs(path, excluded))
        else:
            specs.extend(_path_runs(path, excluded))
    if not specs:
        shown = ", ".join(str(p) for p in inputs[:3])
        raise InputError(f"no X-ray angiography runs found in {shown}; give XA DICOM files, "
                         "folders holding them, a DICOMDIR or a manifest CSV")
    return _without_duplicates(specs)


def _path_runs(path: Path, excluded: tuple[Path, ...]) -> list[RunSpec]:
    """The runs of one file or folder given on the command line (or a manifest's row)."""
    if path.is_file():
        if path.name.upper() == "DICOMDIR":
            return _dicomdir_runs(path)
        if path.suffix.lower() in VIDEO_AND_IMAGE_SUFFIXES:
            return [_path_spec(path)]
        header = _read_header(path)
        if header is None or header is _NOT_ANGIO:
            return [_path_spec(path)]  # given by name: it fails with the reader's reason
        return _group([header], path.parent)
    headers: list[_Header] = []
    loose: list[RunSpec] = []  # DICOM-looking files whose header cannot be read
    image_folders: list[Path] = []
    for folder, names in _walk(path, excluded):
        found_dicom = False
        for name in names:
            file = folder / name
            header = _read_header(file)
            if header is _NOT_ANGIO:
                found_dicom = True
            elif header is not None:
                headers.append(header)
                found_dicom = True
            elif _looks_like_dicom(file):
                loose.append(_path_spec(file))
        if not found_dicom and any(Path(n).suffix.lower() in {".png", ".tif", ".tiff"}
                                   for n in names):
            image_folders.append(folder)  # a folder of PNG/TIFF frames is one run
    return _group(headers, path) + loose + [_path_spec(f) for f in image_folders]


def _walk(root: Path, excluded: tuple[Path, ...]):
    """(folder, sorted file names) below ``root``, hidden entries and ``excluded`` left out."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (here / d).resolve() not in excluded)
        yield here, sorted(f for f in files if not f.startswith(".") and f.upper() != "DICOMDIR")


_NOT_ANGIO = _Header(Path(), "", None, False)  # a readable DICOM file that is no angiography


def _read_header(path: Path) -> _Header | None:
    """The header of an angiographic DICOM file, :data:`_NOT_ANGIO`, or None (not readable)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from AngioSegLib.io.xa import ANGIO_MODALITIES, ANGIO_SOP_CLASSES, SECONDARY_CAPTURE_SOP_CLASSES

    if not _looks_like_dicom(path):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, stop_before_pixels=True, specific_tags=list(_HEADER_TAGS))
            sop_class = str(ds.get("SOPClassUID", ""))
            modality = str(ds.get("Modality", "")).upper()
            frames = ds.get("NumberOfFrames")
            multiframe = frames not in (None, "") and float(frames) > 1
    except (InvalidDicomError, *_PARSE_ERRORS):  # the reader says why when the run is read
        return None
    angio = sop_class in ANGIO_SOP_CLASSES or (
        sop_class in SECONDARY_CAPTURE_SOP_CLASSES and modality in ANGIO_MODALITIES)
    if not angio:
        return _NOT_ANGIO
    return _Header(path, str(ds.get("SOPInstanceUID", "")) or str(path.resolve()),
                   str(ds.get("SeriesInstanceUID", "")) or None, multiframe)


def _looks_like_dicom(path: Path) -> bool:
    """A ``.dcm``-like name, or the ``DICM`` preamble at byte 128."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as file:
            file.seek(128)
            return file.read(4) == b"DICM"
    except OSError:
        return False


def _group(headers: list[_Header], where: Path) -> list[RunSpec]:
    """Multi-frame instances one run each; single frames one run per (series, folder)."""
    specs: list[RunSpec] = []
    series: dict[tuple[str | None, Path], list[_Header]] = {}
    for header in headers:
        if header.multiframe:
            specs.append(_spec([header], header.path, header.path))
        else:
            series.setdefault((header.series_uid, header.path.parent), []).append(header)
    for (_, folder), members in series.items():
        source = members[0].path if len(members) == 1 else folder
        specs.append(_spec(members, source, folder if len(members) > 1 else members[0].path))
    return specs


def _spec(members: list[_Header], source: Path, label: Path) -> RunSpec:
    uids = sorted({m.sop_instance_uid for m in members})
    identity = hashlib.sha1("\n".join(uids).encode()).hexdigest()
    files = tuple(sorted(m.path for m in members)) if len(members) > 1 else ()
    series_uid = members[0].series_uid
    key = safe_key(series_uid) if series_uid else path_key(source)
    return RunSpec(key=key, source=source, label=str(label), identity=identity, files=files,
                   series_uid=series_uid)


def _path_spec(path: Path) -> RunSpec:
    """A run known only by its path (a video, a PNG folder, a file that fails to read)."""
    resolved = str(path.resolve())
    return RunSpec(key=path_key(path), source=path, label=str(path),
                   identity=hashlib.sha1(resolved.encode()).hexdigest())


def _dicomdir_runs(path: Path) -> list[RunSpec]:
    """The runs among the files a DICOMDIR lists (missing files are the reader's to report)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError
    from pydicom.fileset import FileSet

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files = [Path(instance.path) for instance in FileSet(dcmread(path))]
    except (InvalidDicomError, *_PARSE_ERRORS) as error:
        raise InputError(f"{path} is not a readable DICOMDIR ({error}); give its folder "
                         "instead") from error
    headers = [h for h in (_read_header(f) for f in files if f.is_file())
               if h is not None and h is not _NOT_ANGIO]
    return _group(headers, path.parent)


def safe_key(text: str) -> str:
    """``text`` as a folder name: letters, digits, '.', '_' and '-' only (at most 120)."""
    key = _KEY_CHARACTERS.sub("_", text).strip("._")[:120]
    return key or "run"


def path_key(path: Path) -> str:
    """A stable key for a run known by its path: its name, and a hash of the resolved path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    stem = path.name.removesuffix("".join(path.suffixes)) or path.name
    return f"{safe_key(stem)}-{digest}"


def _manifest_runs(path: Path, excluded: tuple[Path, ...]) -> list[RunSpec]:
    """The runs of a manifest CSV; each row's name and catheter options go to its one run."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [row for row in csv.reader(file) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"the manifest {path} cannot be read ({error}); give a UTF-8 CSV "
                         "file with a 'path' column") from error
    if not rows:
        raise InputError(f"the manifest {path} is empty; give one run's path per row")
    header = [cell.strip().lower() for cell in rows[0]]
    if "path" in header:
        unknown = [c for c in header if c not in MANIFEST_COLUMNS]
        if unknown:
            raise InputError(f"the manifest {path} has unknown columns {', '.join(unknown)}; "
                             f"use {', '.join(MANIFEST_COLUMNS)}")
        columns, rows = header, rows[1:]
    else:
        columns = list(MANIFEST_COLUMNS)
    specs: list[RunSpec] = []
    for number, row in enumerate(rows, start=2 if columns is header else 1):
        if len(row) > len(columns):
            raise InputError(f"row {number} of the manifest {path} has {len(row)} cells, "
                             f"more than its {len(columns)} columns; quote catheter points")
        cells = {c: v.strip() for c, v in zip(columns, row, strict=False)}
        where = f"row {number} of the manifest {path}"
        run_path = Path(cells.get("path", "")).expanduser()
        if not cells.get("path"):
            raise InputError(f"{where} has no path; give one run's file or folder per row")
        if not run_path.is_absolute():
            run_path = path.parent / run_path
        if not run_path.exists():
            raise InputNotFoundError(f"{where}: {run_path} does not exist; check the path")
        found = _path_runs(run_path, excluded)
        options = _row_options(cells, where)
        if options and len(found) != 1:
            raise InputError(f"{where} gives a name or catheter options but {run_path} holds "
                             f"{len(found)} runs; give one run's file per row")
        specs.extend(replace(spec, **options) for spec in found)
    return specs


def _row_options(cells: dict[str, str], where: str) -> dict:
    """The RunSpec fields a manifest row sets (its output name, the catheter calibration)."""
    options: dict = {}
    if cells.get("name"):
        options["key"] = safe_key(cells["name"])
    try:
        french = float(cells["catheter_french"]) if cells.get("catheter_french") else None
        frame = int(cells["catheter_frame"]) if cells.get("catheter_frame") else 0
    except ValueError as error:
        raise InputError(f"{where}: catheter_french must be a number (French) and "
                         f"catheter_frame a frame index, found {error}") from error
    points = (parse_points(cells["catheter_points"], where) if cells.get("catheter_points")
              else None)
    if (french is None) != (points is None):
        raise InputError(f"{where}: catheter calibration needs both catheter_french and "
                         "catheter_points")
    if french is not None:
        try:
            options["catheter"] = CatheterCalibration(french, points, frame)
        except InputError as error:
            raise InputError(f"{where}: {error}") from error
    return options


def _without_duplicates(specs: list[RunSpec]) -> Discovery:
    """Keep one run of each identity, the largest copy (a truncated copy is smaller), in the
    place it was first found; give runs of one series that differ distinct keys."""
    kept: dict[str, RunSpec] = {}
    others: dict[str, list[RunSpec]] = {}
    for spec in specs:
        first = kept.get(spec.identity)
        if first is None:
            kept[spec.identity] = spec
            continue
        if _size_bytes(spec) > _size_bytes(first):
            kept[spec.identity], spec = spec, first
        others.setdefault(spec.identity, []).append(spec)
    duplicates = [Duplicate(spec, kept[identity].label)
                  for identity, specs_ in others.items() for spec in specs_]
    by_key: dict[str, list[RunSpec]] = {}
    for spec in kept.values():
        by_key.setdefault(spec.key, []).append(spec)
    runs = []
    for spec in kept.values():
        if len(by_key[spec.key]) > 1:  # e.g. two multi-frame instances of one series
            spec = replace(spec, key=f"{spec.key}_{spec.identity[:8]}")
        runs.append(spec)
    return Discovery(tuple(runs), tuple(duplicates))


def parse_points(text: str, where: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """'row1,col1,row2,col2' (commas or spaces) → ((row1, col1), (row2, col2)), in pixels."""
    try:
        r1, c1, r2, c2 = (float(v) for v in text.replace(",", " ").split())
    except ValueError as error:
        raise InputError(f"{where}: catheter_points needs four numbers 'row1,col1,row2,col2' in "
                         f"pixels, found {text!r}") from error
    return (r1, c1), (r2, c2)


def _size_bytes(spec: RunSpec) -> int:
    """The bytes of a run's files (0 when they cannot be measured)."""
    try:
        paths = spec.files or (spec.source,)
        return sum(p.stat().st_size for p in paths if p.is_file())
    except OSError:
        return 0
