"""The DICOM files of one run: gathered from a folder or a DICOMDIR, grouped into runs, the one
run chosen and its frames put in order.

Each multi-frame instance is a run; single-frame instances form one run per series, ordered by
InstanceNumber (then acquisition time, then file name). A DICOMDIR's listed files that are
missing or unreadable are kept as :class:`DicomdirGap`: refused when they belong to the run being
read (:func:`check_gaps`), reported when they belong to other series.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import InputError
from AngioSegLib.io import dicom_meta
from AngioSegLib.io.xa_header import (
    DicomInstance,
    header_cut_message,
    is_angio,
    sop_class_name,
    try_header,
)

__all__ = [
    "DicomdirGap",
    "DicomdirReference",
    "angio_only",
    "check_consistent",
    "check_gaps",
    "choose_run",
    "dicomdir_instances",
    "folder_instances",
    "gap_message",
]

_NOT_DICOM_SUFFIXES = frozenset(
    ".png .jpg .jpeg .tif .tiff .bmp .gif .txt .md .json .xml .csv .html .pdf .mp4 .avi .mov "
    ".mkv .zip .nrrd .gz .py".split()
)


@dataclass(frozen=True)
class DicomdirReference:
    """A file a DICOMDIR lists, and the SeriesInstanceUID of its series record (None: unknown)."""

    path: Path
    series_uid: str | None


@dataclass(frozen=True)
class DicomdirGap:
    """A file a DICOMDIR lists that is missing ("is missing") or unreadable."""

    reference: DicomdirReference
    problem: str


def dicomdir_instances(path: Path) -> tuple[list[DicomInstance], tuple[DicomdirGap, ...]]:
    """The angiographic instances a DICOMDIR lists that can be read, and the listed files that
    are missing or unreadable; InputError for an unreadable DICOMDIR, one that lists no files, or
    one none of whose files can be read."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError
    from pydicom.fileset import FileSet

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path)
            FileSet(ds)  # checks that the directory records form a File-set
    except (InvalidDicomError, ValueError, KeyError, AttributeError, OSError) as error:
        raise InputError(f"{path} is not a readable DICOMDIR ({error}); open its folder") from error
    references = _dicomdir_references(ds, path.parent)
    if not references:
        raise InputError(f"the DICOMDIR {path} lists no files; open the folder that holds the run")
    instances, gaps = [], []
    for reference in references:
        located = _locate(path.parent, reference.path)
        instance = try_header(located) if located is not None else None
        if instance is None:
            problem = "is missing" if located is None else "is not a readable DICOM file"
            gaps.append(DicomdirGap(reference, problem))
        else:
            instances.append(instance)
    if not instances:
        raise InputError(gap_message(path, gaps, len(references)))
    return angio_only(instances, path), tuple(gaps)


def _dicomdir_references(ds, root: Path) -> list[DicomdirReference]:
    """Every file the DICOMDIR's records reference, with the series record above each."""
    records = {item.seq_item_tell: item for item in ds.get("DirectoryRecordSequence") or []}
    series_of: dict[int, str | None] = {}
    stack = [(ds.get("OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity"), None)]
    while stack:  # siblings are chained by the next offset, children by the lower-level one
        offset, inherited = stack.pop()
        while offset in records and offset not in series_of:
            record = records[offset]
            series = inherited
            if str(record.get("DirectoryRecordType", "")).upper() == "SERIES":
                series = str(record.get("SeriesInstanceUID") or "") or None
            series_of[offset] = series
            stack.append((record.get("OffsetOfReferencedLowerLevelDirectoryEntity"), series))
            offset = record.get("OffsetOfTheNextDirectoryRecord")
    references = []
    for offset, record in records.items():
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else [str(part) for part in file_id]
        references.append(DicomdirReference(root.joinpath(*parts), series_of.get(offset)))
    return references


def _locate(root: Path, path: Path) -> Path | None:
    """``path``, or the file whose name matches it but for letter case (media copied from a CD
    often has lower-case names where the DICOMDIR says upper case), or None."""
    if path.is_file():
        return path
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # an absolute ReferencedFileID: not a File-set member
        return None
    folder = root
    for part in parts:
        try:
            matches = [p for p in folder.iterdir() if p.name.upper() == part.upper()]
        except OSError:
            return None
        if not matches:
            return None
        folder = matches[0]
    return folder if folder.is_file() else None


def gap_message(where: Path, gaps: list[DicomdirGap] | tuple[DicomdirGap, ...], listed: int) -> str:
    """'N of the M files … are missing (e.g. …)' for the gaps of a DICOMDIR."""
    counts: dict[str, int] = {}
    for gap in gaps:
        counts[gap.problem] = counts.get(gap.problem, 0) + 1
    problems = " and ".join(
        f"{n} {problem.replace('is ', 'are ', 1) if n > 1 else problem}"
        for problem, n in counts.items()
    )
    return (
        f"the DICOMDIR {where} lists {listed} files for this run but {problems} (e.g. "
        f"{gaps[0].reference.path}); the run would be read short: copy the whole media folder "
        "(every file the DICOMDIR lists) and try again"
    )


def check_gaps(gaps: tuple[DicomdirGap, ...], run: list[DicomInstance], where: Path) -> list[str]:
    """Refuse a run whose own DICOMDIR files are missing; warn about other series' files."""
    if not gaps:
        return []
    series = str(run[0].ds.get("SeriesInstanceUID") or "") or None
    own = [g for g in gaps if g.reference.series_uid is None or g.reference.series_uid == series]
    if own:
        raise InputError(gap_message(where, own, len(run) + len(own)))
    return [
        f"the DICOMDIR lists {len(gaps)} files of other series that are missing or unreadable "
        f"(e.g. {gaps[0].reference.path}); the run read is complete, those series were not read"
    ]


def folder_instances(folder: Path) -> list[DicomInstance]:
    """Headers of the angiographic DICOM files directly inside ``folder``."""
    candidates = sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() not in _NOT_DICOM_SUFFIXES
    )
    instances = [i for i in (try_header(p) for p in candidates) if i is not None]
    if not instances:
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        hint = f"; its subfolders: {', '.join(subfolders[:8])}" if subfolders else ""
        raise InputError(
            f"the folder {folder} holds no DICOM files{hint}; choose a folder with one run's "
            "DICOM files, PNG/TIFF frames, or a file"
        )
    return angio_only(instances, folder)


def angio_only(instances: list[DicomInstance], where: Path) -> list[DicomInstance]:
    """The angiographic instances; a DICOM file cut inside its header is refused, not skipped."""
    cut = next((i for i in instances if i.header_cut), None)
    if cut is not None:
        raise InputError(f"in {where}: {header_cut_message(cut)}")
    images = [i for i in instances if is_angio(i.ds)]
    if not images:
        found = sorted(
            {
                f"{sop_class_name(i.ds)} (Modality {i.ds.get('Modality') or 'none'})"
                for i in instances
            }
        )
        raise InputError(
            f"{where} holds DICOM files but no X-ray angiography images (found: "
            f"{', '.join(found[:5])}); choose an XA, XRF or Secondary Capture (Modality XA/RF) run"
        )
    return images


def _group_runs(instances: list[DicomInstance]) -> list[list[DicomInstance]]:
    """Each multi-frame instance is a run; single-frame instances form one run per series."""
    runs: list[list[DicomInstance]] = []
    series: dict[str, list[DicomInstance]] = {}
    for instance in instances:
        if instance.n_frames > 1:
            runs.append([instance])
        else:
            key = str(instance.ds.get("SeriesInstanceUID") or instance.path.parent)
            series.setdefault(key, []).append(instance)
    return runs + list(series.values())


def _describe_run(run: list[DicomInstance]) -> str:
    ds = run[0].ds
    label = " ".join(
        str(v) for v in (ds.get("SeriesNumber"), ds.get("SeriesDescription")) if v not in (None, "")
    )
    label = f" series {label}" if label else ""
    if len(run) == 1:
        return f"'{run[0].path.name}' ({run[0].n_frames} frames{label})"
    return (
        f"{len(run)} single frames{label} (SeriesInstanceUID {ds.get('SeriesInstanceUID')}, "
        f"e.g. '{run[0].path.name}')"
    )


def choose_run(instances: list[DicomInstance], where: Path) -> list[DicomInstance]:
    runs = _group_runs(instances)
    if len(runs) > 1:
        listed = "; ".join(_describe_run(run) for run in runs[:6])
        more = f"; and {len(runs) - 6} more" if len(runs) > 6 else ""
        raise InputError(
            f"{where} holds {len(runs)} runs: {listed}{more}. Choose one: pass its file, or a "
            "folder holding only that series' frames"
        )
    return _sort_frames(runs[0])


def _sort_frames(run: list[DicomInstance]) -> list[DicomInstance]:
    """Single-frame instances in InstanceNumber order (then acquisition time, then file name)."""

    def key(instance: DicomInstance):
        number = dicom_meta.header_value(instance.ds, "InstanceNumber")
        try:
            number = int(number)
        except (TypeError, ValueError):
            number = 10**9  # absent or not a number: after the numbered ones
        seconds = dicom_meta.instance_seconds(instance.ds)
        return (
            number,
            seconds if seconds is not None else 0.0,
            instance.path.name,
        )

    unique = {str(i.ds.get("SOPInstanceUID") or i.path): i for i in run}
    return sorted(unique.values(), key=key)


def check_consistent(run: list[DicomInstance]) -> None:
    first = run[0].ds
    fields = ("Rows", "Columns", "BitsStored", "PhotometricInterpretation", "PixelRepresentation")
    for instance in run[1:]:
        differ = [f for f in fields if instance.ds.get(f) != first.get(f)]
        if differ:
            raise InputError(
                f"'{instance.path.name}' and '{run[0].path.name}' belong to one series but differ "
                f"in {', '.join(differ)}; choose a folder with one run's frames"
            )
