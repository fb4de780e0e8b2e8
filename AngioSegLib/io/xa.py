"""Read an X-ray angiography run from DICOM into a lazy `CineRun`.

A run is one multi-frame instance (XA, Enhanced XA, XRF, multi-frame Secondary Capture with
Modality XA/RF), or the single-frame instances of one series in a folder or a DICOMDIR. Reading is
tolerant (odd values are accepted) but every reason a file cannot be used becomes one
:class:`~AngioSegLib.errors.InputError` that says what was found and what to do.

Frames are decoded on demand (:class:`~.dicom_frames.DicomFrames`; the first and
last are decoded at once so damaged or undecodable files fail here). Pixel values: see
:mod:`.dicom_frames` (stored values kept, MONOCHROME1 inverted, Modality LUT
tables applied, VOI LUT never). ``r_wave_frames`` are 0-based frame indices (RWavePointer − 1).

What is refused rather than read wrongly: a header that does not describe its pixel data (the
uncompressed pixel data must hold exactly NumberOfFrames × Rows × Columns × BitsAllocated/8 bytes,
plus DICOM's one padding byte for an odd length), missing or impossible Image Pixel attributes, a
file meta TransferSyntaxUID that is no transfer syntax, an unusable Modality LUT, a file that ends
inside its header, and a DICOMDIR whose files of the series being read are missing. Implausible
timing and spacing are ignored with a warning instead (see :mod:`.dicom_meta`), as
are missing DICOMDIR files of other series.
"""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.cine import CineRun, FrameReference
from AngioSegLib.errors import AngioSegError, InputError, InputNotFoundError
from AngioSegLib.io import dicom_meta
from AngioSegLib.io.dicom_frames import (
    DicomFrames,
    PixelTransform,
    check_pixel_attributes,
    check_pixel_data,
    transfer_syntax_of,
)

ANGIO_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.12.1": "X-Ray Angiographic",
    "1.2.840.10008.5.1.4.1.1.12.1.1": "Enhanced XA",
    "1.2.840.10008.5.1.4.1.1.12.2": "X-Ray Radiofluoroscopic",
    "1.2.840.10008.5.1.4.1.1.12.2.1": "Enhanced XRF",
}
SECONDARY_CAPTURE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}
ANGIO_MODALITIES = ("XA", "RF")
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_DEFER_BYTES = 65536  # pixel data (and any value this large) is left on disk when reading headers
# what pydicom raises for header values it cannot convert or that the reader cannot use: the last
# line of defence, turned into one InputError by read_xa (every case known is checked before)
_HEADER_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, ZeroDivisionError)
_UNDEFINED_LENGTH = 0xFFFFFFFF
_NOT_DICOM_SUFFIXES = frozenset(
    ".png .jpg .jpeg .tif .tiff .bmp .gif .txt .md .json .xml .csv .html .pdf .mp4 .avi .mov "
    ".mkv .zip .nrrd .gz .py".split()
)


@dataclass(frozen=True)
class _Reference:
    """A file a DICOMDIR lists, and the SeriesInstanceUID of its series record (None: unknown)."""

    path: Path
    series_uid: str | None


@dataclass(frozen=True)
class _Gap:
    """A file a DICOMDIR lists that is missing ("is missing") or unreadable."""

    reference: _Reference
    problem: str


@dataclass(frozen=True)
class _Instance:
    """One DICOM file's header (pixel data left on disk)."""

    path: Path
    ds: object
    truncated: bool  # the file ended inside its pixel data
    header_cut: bool = False  # the file ended inside its header (no pixel data read)

    @property
    def n_frames(self) -> int:
        """NumberOfFrames (1 when absent); an InputError when it is not a positive whole number."""
        value = dicom_meta.header_value(self.ds, "NumberOfFrames")
        if value in (None, ""):
            return 1
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not (number >= 1 and number.is_integer()):
            raise InputError(
                f"{self.path.name} has NumberOfFrames (0028,0008) '{str(value).strip()[:40]}', "
                "not a positive whole number of frames; the header is damaged: export the run again"
            )
        return int(number)

    @property
    def is_multiframe(self) -> bool:
        """A multi-frame instance (its frames are referenced by number); single-frame Secondary
        Capture never is, even when it carries NumberOfFrames."""
        return "NumberOfFrames" in self.ds and self.ds.SOPClassUID != SINGLE_FRAME_SC


SINGLE_FRAME_SC = "1.2.840.10008.5.1.4.1.1.7"


def read_xa(path: str | Path) -> CineRun:
    """Read an XA run: a DICOM file, a folder of one run's DICOM files, or a DICOMDIR.

    Every failure is an :class:`~AngioSegLib.errors.AngioSegError` with one actionable message.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise missing_path_error(path)
    try:
        return _read_path(path)
    except AngioSegError:
        raise
    except OSError as error:
        raise InputError(
            f"{path} could not be read ({error.strerror or error}); check that it is a readable "
            "file or folder"
        ) from error
    except _HEADER_ERRORS as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"{path} has a DICOM header AngioSeg cannot use ({reason}); check the file "
            "(e.g. with 'dciodvfy') or export the run again"
        ) from error


def missing_path_error(path: Path) -> AngioSegError:
    """Why ``path`` cannot be found: a symbolic-link loop, a dangling link, or no such path."""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return InputError(
                f"{path} is a symbolic link loop (following its links leads back to a link "
                "already followed); point the link at the real file or folder"
            )
        if path.is_symlink():
            return InputNotFoundError(
                f"{path} is a symbolic link to '{os.readlink(path)}', which does not exist; "
                "point the link at the real file or folder"
            )
    return InputNotFoundError(f"{path} does not exist; check the path and try again")


def _read_path(path: Path) -> CineRun:
    if path.is_dir():
        dicomdir = next((p for p in path.iterdir() if p.name.upper() == "DICOMDIR"), None)
        if dicomdir is not None:
            return read_dicomdir(dicomdir)
        return _read_run(_folder_instances(path), path)
    instance = _read_header(path)
    if str(instance.ds.file_meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        return read_dicomdir(path)
    return _read_run([instance], path)


def read_dicomdir(path: Path) -> CineRun:
    """Read the one run referenced by a DICOMDIR (error listing the runs when there are several).

    Listed files that are missing or unreadable are refused when they belong to the series being
    read (or to no known series): the run would be read short. Those of other series are
    reported in the run's warnings.
    """
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
        instance = _try_header(located) if located is not None else None
        if instance is None:
            problem = "is missing" if located is None else "is not a readable DICOM file"
            gaps.append(_Gap(reference, problem))
        else:
            instances.append(instance)
    if not instances:
        raise InputError(_gap_message(path, gaps, len(references)))
    return _read_run(_angio_only(instances, path), path, tuple(gaps))


def _dicomdir_references(ds, root: Path) -> list[_Reference]:
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
        references.append(_Reference(root.joinpath(*parts), series_of.get(offset)))
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


def _gap_message(where: Path, gaps: list[_Gap] | tuple[_Gap, ...], listed: int) -> str:
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


def _check_gaps(gaps: tuple[_Gap, ...], run: list[_Instance], where: Path) -> list[str]:
    """Refuse a run whose own DICOMDIR files are missing; warn about other series' files."""
    if not gaps:
        return []
    series = str(run[0].ds.get("SeriesInstanceUID") or "") or None
    own = [g for g in gaps if g.reference.series_uid is None or g.reference.series_uid == series]
    if own:
        raise InputError(_gap_message(where, own, len(run) + len(own)))
    return [
        f"the DICOMDIR lists {len(gaps)} files of other series that are missing or unreadable "
        f"(e.g. {gaps[0].reference.path}); the run read is complete, those series were not read"
    ]


def _read_header(path: Path) -> _Instance:
    """The header of one DICOM file, or an InputError saying it is not DICOM."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            try:
                ds = dcmread(path, defer_size=_DEFER_BYTES)
            except InvalidDicomError:  # no 'DICM' preamble: accept a bare dataset with an image
                ds = dcmread(path, defer_size=_DEFER_BYTES, force=True)
                if "SOPClassUID" not in ds or "Rows" not in ds:
                    raise InvalidDicomError("no DICOM image header") from None
        except (InvalidDicomError, ValueError, KeyError, EOFError, OSError, TypeError) as error:
            raise InputError(
                f"{path} is not a DICOM file ({error}); choose an XA DICOM file, a folder of "
                "one run's DICOM files, a DICOMDIR, a PNG/TIFF folder or a video"
            ) from error
        truncated = any("End of file reached" in str(w.message) for w in caught)
        if truncated:  # pydicom drops the whole dataset: keep the header to say what it was
            ds = dcmread(path, stop_before_pixels=True)
    return _Instance(path, ds, truncated, header_cut=not truncated and _ends_in_header(path, ds))


def _ends_in_header(path: Path, ds) -> bool:
    """Whether an image file without pixel data stopped inside its header.

    pydicom stops silently at the end of the file, so a file cut inside its header reads as a
    shorter dataset. It is cut when the file is shorter than its file meta group says, when
    nothing follows the file meta, when the file meta (or the dataset) names an image class
    AngioSeg reads but SOPClassUID or Rows never came, or when its last element's declared
    length does not end where the file ends.
    """
    if "PixelData" in ds:
        return False
    meta = getattr(ds, "file_meta", None) or {}
    meta_length = meta.get("FileMetaInformationGroupLength")
    preamble = 128 + 4 + 12  # preamble, 'DICM', the group length element itself
    if meta_length and path.stat().st_size < preamble + int(meta_length):
        return True
    if meta and len(ds) == 0:
        return True
    sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", ""))
    if sop_class not in ANGIO_SOP_CLASSES and sop_class not in SECONDARY_CAPTURE_SOP_CLASSES:
        return False
    if "SOPClassUID" not in ds or "Rows" not in ds:
        return True
    last = ds.get_item(max(ds.keys()))
    tell, length = getattr(last, "value_tell", None), getattr(last, "length", None)
    syntax = meta.get("TransferSyntaxUID")
    if tell is None or length in (None, _UNDEFINED_LENGTH) or getattr(syntax, "is_deflated", 0):
        return False
    return tell + length != path.stat().st_size


def _header_cut_message(instance: _Instance) -> str:
    size = instance.path.stat().st_size
    return (
        f"{instance.path.name} is truncated or damaged: the file ends inside its DICOM header "
        f"({size} bytes, no pixel data); copy or export the run again"
    )


def _try_header(path: Path) -> _Instance | None:
    try:
        return _read_header(path)
    except InputError:
        return None


def _sop_class_name(ds) -> str:
    from pydicom.uid import UID

    uid = str(ds.get("SOPClassUID", ""))
    return UID(uid).name if uid else "an instance without SOP Class UID"


def _is_angio(ds) -> bool:
    uid = str(ds.get("SOPClassUID", ""))
    if uid in ANGIO_SOP_CLASSES:
        return True
    modality = str(ds.get("Modality", "")).upper()
    return uid in SECONDARY_CAPTURE_SOP_CLASSES and modality in ANGIO_MODALITIES


def _not_angio_message(ds, where: Path) -> str:
    modality = ds.get("Modality") or "none"
    return (
        f"{where} is DICOM {_sop_class_name(ds)} (Modality {modality}), not an X-ray "
        "angiography image; choose an XA, XRF or Secondary Capture (Modality XA/RF) cine"
    )


def _check_instance(instance: _Instance) -> None:
    """Refuse instances AngioSeg cannot turn into greyscale frames, saying why."""
    ds, path = instance.ds, instance.path
    if instance.header_cut:
        raise InputError(_header_cut_message(instance))
    if not _is_angio(ds):
        raise InputError(_not_angio_message(ds, path))
    check_pixel_attributes(ds, path.name)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if not photometric:
        raise InputError(
            f"{path.name} has no PhotometricInterpretation (0028,0004), which every image needs; "
            "the header is incomplete: export the run again"
        )
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(
            f"{path.name} is a colour image (PhotometricInterpretation {photometric or '?'}, "
            f"{samples} samples per pixel); AngioSeg reads greyscale XA frames: export the "
            "original acquisition rather than a screen capture"
        )
    if "PixelData" not in ds:
        if instance.truncated:
            raise InputError(
                f"{path.name} is truncated: the file ends inside its pixel data; copy or export "
                "the run again"
            )
        raise InputError(
            f"{path.name} has no pixel data (a {_sop_class_name(ds)} header only); choose the "
            "file that holds the images"
        )
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16) or not 1 <= int(ds.get("BitsStored", 0) or 0) <= bits:
        raise InputError(
            f"{path.name} stores {bits}-bit pixels (BitsStored {ds.get('BitsStored')}); AngioSeg "
            "reads 8- to 16-bit greyscale frames"
        )
    check_pixel_data(ds, path, instance.n_frames)


def _folder_instances(folder: Path) -> list[_Instance]:
    """Headers of the angiographic DICOM files directly inside ``folder``."""
    candidates = sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() not in _NOT_DICOM_SUFFIXES
    )
    instances = [i for i in (_try_header(p) for p in candidates) if i is not None]
    if not instances:
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        hint = f"; its subfolders: {', '.join(subfolders[:8])}" if subfolders else ""
        raise InputError(
            f"the folder {folder} holds no DICOM files{hint}; choose a folder with one run's "
            "DICOM files, PNG/TIFF frames, or a file"
        )
    return _angio_only(instances, folder)


def _angio_only(instances: list[_Instance], where: Path) -> list[_Instance]:
    """The angiographic instances; a DICOM file cut inside its header is refused, not skipped."""
    cut = next((i for i in instances if i.header_cut), None)
    if cut is not None:
        raise InputError(f"in {where}: {_header_cut_message(cut)}")
    images = [i for i in instances if _is_angio(i.ds)]
    if not images:
        found = sorted(
            {
                f"{_sop_class_name(i.ds)} (Modality {i.ds.get('Modality') or 'none'})"
                for i in instances
            }
        )
        raise InputError(
            f"{where} holds DICOM files but no X-ray angiography images (found: "
            f"{', '.join(found[:5])}); choose an XA, XRF or Secondary Capture (Modality XA/RF) run"
        )
    return images


def _group_runs(instances: list[_Instance]) -> list[list[_Instance]]:
    """Each multi-frame instance is a run; single-frame instances form one run per series."""
    runs: list[list[_Instance]] = []
    series: dict[str, list[_Instance]] = {}
    for instance in instances:
        if instance.n_frames > 1:
            runs.append([instance])
        else:
            key = str(instance.ds.get("SeriesInstanceUID") or instance.path.parent)
            series.setdefault(key, []).append(instance)
    return runs + list(series.values())


def _describe_run(run: list[_Instance]) -> str:
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


def _choose_run(instances: list[_Instance], where: Path) -> list[_Instance]:
    runs = _group_runs(instances)
    if len(runs) > 1:
        listed = "; ".join(_describe_run(run) for run in runs[:6])
        more = f"; and {len(runs) - 6} more" if len(runs) > 6 else ""
        raise InputError(
            f"{where} holds {len(runs)} runs: {listed}{more}. Choose one: pass its file, or a "
            "folder holding only that series' frames"
        )
    return _sort_frames(runs[0])


def _sort_frames(run: list[_Instance]) -> list[_Instance]:
    """Single-frame instances in InstanceNumber order (then acquisition time, then file name)."""

    def key(instance: _Instance):
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


def _check_consistent(run: list[_Instance]) -> None:
    first = run[0].ds
    fields = ("Rows", "Columns", "BitsStored", "PhotometricInterpretation", "PixelRepresentation")
    for instance in run[1:]:
        differ = [f for f in fields if instance.ds.get(f) != first.get(f)]
        if differ:
            raise InputError(
                f"'{instance.path.name}' and '{run[0].path.name}' belong to one series but differ "
                f"in {', '.join(differ)}; choose a folder with one run's frames"
            )


def _run_name(source: Path) -> str:
    """The file's stem, or the folder's name (the media folder's for a DICOMDIR)."""
    if source.is_dir():
        return source.name
    return source.parent.name if source.name.upper() == "DICOMDIR" else source.stem


def _read_run(instances: list[_Instance], source: Path, gaps: tuple[_Gap, ...] = ()) -> CineRun:
    """Build the lazy CineRun of the one run among ``instances`` (``gaps``: a DICOMDIR's files
    that could not be read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on non-conformant values (e.g. UIDs)
        return _build_run(instances, source, gaps)


def _pixel_transform(instance: _Instance) -> PixelTransform:
    try:
        return PixelTransform.from_dataset(instance.ds)
    except InputError as error:
        raise InputError(f"{instance.path.name}: {error}") from error


def _build_run(instances: list[_Instance], source: Path, gaps: tuple[_Gap, ...]) -> CineRun:
    run = _choose_run(instances, source) if len(instances) > 1 else instances
    for instance in run:
        _check_instance(instance)
    _check_consistent(run)
    notes = _check_gaps(gaps, run, source)
    first = run[0].ds
    paths, indices, references = [], [], []
    for instance in run:
        for index in range(instance.n_frames):
            paths.append(instance.path)
            indices.append(index)
            references.append(
                FrameReference(
                    sop_class_uid=str(instance.ds.SOPClassUID),
                    sop_instance_uid=str(instance.ds.get("SOPInstanceUID", "")),
                    frame_number=index + 1 if instance.is_multiframe else None,
                    path=instance.path,
                )
            )
    transfer_syntax, in_meta = transfer_syntax_of(first)
    frames = DicomFrames(
        paths,
        indices,
        int(first.Rows),
        int(first.Columns),
        _pixel_transform(run[0]),
        transfer_syntax,
        bare=not in_meta,
    )
    frames.check_decodable()
    if len(run) == 1:
        times, time_notes = dicom_meta.read_frame_times(first, len(paths))
        r_waves, r_notes = dicom_meta.read_r_wave_frames(first, len(paths))
    else:
        times, time_notes = dicom_meta.read_series_times([i.ds for i in run])
        r_waves, r_notes = (), []
    calibration, calibration_notes = dicom_meta.read_calibration(first)
    notes += calibration_notes + time_notes + r_notes
    relationship = str(first.get("PixelIntensityRelationship", "")).upper() or None
    return CineRun(
        frames=frames,
        frame_times_s=times,
        calibration=calibration,
        view=dicom_meta.read_view(first),
        r_wave_frames=r_waves,
        references=tuple(references),
        bits_stored=frames.transform.bits,
        transfer_syntax=transfer_syntax.name if transfer_syntax is not None else None,
        name=_run_name(source),
        source_path=source,
        warnings=tuple(notes),
        pixel_intensity_relationship=relationship if frames.transform.is_identity else None,
    )
