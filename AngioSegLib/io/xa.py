"""Read an X-ray angiography run from DICOM into a lazy `CineRun`.

A run is one multi-frame instance (XA, Enhanced XA, XRF, multi-frame Secondary Capture with
Modality XA/RF), or the single-frame instances of one series in a folder or a DICOMDIR. Reading is
tolerant (odd values are accepted) but every reason a file cannot be used becomes one
:class:`~AngioSegLib.errors.InputError` that says what was found and what to do.

Frames are decoded on demand (:class:`~AngioSegLib.io.dicom_frames.DicomFrames`; the first and
last are decoded at once so damaged or undecodable files fail here). Pixel values: see
:mod:`AngioSegLib.io.dicom_frames` (stored values kept, MONOCHROME1 inverted, Modality LUT
tables applied, VOI LUT never). ``r_wave_frames`` are 0-based frame indices (RWavePointer − 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.cine import CineRun, FrameReference
from AngioSegLib.errors import InputError, InputNotFoundError
from AngioSegLib.io import dicom_meta
from AngioSegLib.io.dicom_frames import DicomFrames, PixelTransform

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
_NOT_DICOM_SUFFIXES = {
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".txt",
    ".md",
    ".json",
    ".xml",
    ".csv",
    ".html",
    ".pdf",
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".zip",
    ".nrrd",
    ".gz",
    ".py",
}


@dataclass(frozen=True)
class _Instance:
    """One DICOM file's header (pixel data left on disk)."""

    path: Path
    ds: object
    truncated: bool  # the file ended inside its pixel data

    @property
    def n_frames(self) -> int:
        return int(self.ds.get("NumberOfFrames") or 1)

    @property
    def is_multiframe(self) -> bool:
        """A multi-frame instance (its frames are referenced by number); single-frame Secondary
        Capture never is, even when it carries NumberOfFrames."""
        return "NumberOfFrames" in self.ds and self.ds.SOPClassUID != SINGLE_FRAME_SC


SINGLE_FRAME_SC = "1.2.840.10008.5.1.4.1.1.7"


def read_xa(path: str | Path) -> CineRun:
    """Read an XA run: a DICOM file, a folder of one run's DICOM files, or a DICOMDIR."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist; check the path and try again")
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
    """Read the one run referenced by a DICOMDIR (error listing the runs when there are several)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError
    from pydicom.fileset import FileSet

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fileset = FileSet(dcmread(path))
    except (InvalidDicomError, ValueError, KeyError, AttributeError, OSError) as error:
        raise InputError(f"{path} is not a readable DICOMDIR ({error}); open its folder") from error
    paths = [Path(instance.path) for instance in fileset]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputNotFoundError(
            f"the DICOMDIR {path} lists {len(missing)} files that are missing, e.g. {missing[0]}; "
            "copy the whole media folder"
        )
    instances = [i for i in (_try_header(p) for p in paths) if i is not None]
    return _read_run(_angio_only(instances, path), path)


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
    return _Instance(path, ds, truncated)


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
    if not _is_angio(ds):
        raise InputError(_not_angio_message(ds, path))
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
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
    _check_native_length(instance)


def _check_native_length(instance: _Instance) -> None:
    """Uncompressed pixel data must hold every frame: a short file is truncated."""
    ds, path = instance.ds, instance.path
    syntax, _ = _transfer_syntax(ds)
    if syntax.is_compressed:
        return
    element = ds.get_item(0x7FE00010)
    expected = int(ds.Rows) * int(ds.Columns) * instance.n_frames * int(ds.BitsAllocated) // 8
    value_tell = getattr(element, "value_tell", None)
    length = element.length if value_tell is not None else len(element.value or b"")
    on_disk = length  # a deflated file's offsets are in the inflated stream: trust the length
    if value_tell is not None and not syntax.is_deflated:
        on_disk = path.stat().st_size - value_tell
    if min(length, on_disk) < expected:
        raise InputError(
            f"{path.name} is truncated: its pixel data holds {min(length, on_disk)} bytes, "
            f"{instance.n_frames} frames of {ds.Rows}×{ds.Columns} need {expected}; copy or "
            "export the run again"
        )


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
        number = instance.ds.get("InstanceNumber")
        seconds = dicom_meta.instance_seconds(instance.ds)
        return (
            int(number) if number is not None else 10**9,
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


def _transfer_syntax(ds):
    """(UID, whether the file meta names it); a bare dataset's is inferred from its encoding."""
    from pydicom.uid import UID

    named = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if named is not None:
        return named, True
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        return UID("1.2.840.10008.1.2"), False
    return UID("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"), False


def _run_name(source: Path) -> str:
    """The file's stem, or the folder's name (the media folder's for a DICOMDIR)."""
    if source.is_dir():
        return source.name
    return source.parent.name if source.name.upper() == "DICOMDIR" else source.stem


def _read_run(instances: list[_Instance], source: Path) -> CineRun:
    """Build the lazy CineRun of the one run among ``instances``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on non-conformant values (e.g. UIDs)
        return _build_run(instances, source)


def _build_run(instances: list[_Instance], source: Path) -> CineRun:
    run = _choose_run(instances, source) if len(instances) > 1 else instances
    for instance in run:
        _check_instance(instance)
    _check_consistent(run)
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
    transfer_syntax, in_meta = _transfer_syntax(first)
    frames = DicomFrames(
        paths,
        indices,
        int(first.Rows),
        int(first.Columns),
        PixelTransform.from_dataset(first),
        transfer_syntax,
        bare=not in_meta,
    )
    frames.check_decodable()
    notes: list[str] = []
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
