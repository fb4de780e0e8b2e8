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

One file's header and its checks are in :mod:`.xa_header`; gathering a folder's or a DICOMDIR's
files into the one run, in :mod:`.xa_series`.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

from AngioSegLib.cine import CineRun, FrameReference
from AngioSegLib.errors import AngioSegError, InputError, InputNotFoundError
from AngioSegLib.io import dicom_meta
from AngioSegLib.io.dicom_frames import DicomFrames, PixelTransform, transfer_syntax_of
from AngioSegLib.io.xa_header import (
    ANGIO_MODALITIES,
    ANGIO_SOP_CLASSES,
    MEDIA_STORAGE_DIRECTORY,
    SECONDARY_CAPTURE_SOP_CLASSES,
    DicomInstance,
    check_instance,
    read_header,
)
from AngioSegLib.io.xa_series import (
    DicomdirGap,
    check_consistent,
    check_gaps,
    choose_run,
    dicomdir_instances,
    folder_instances,
)

__all__ = [
    "ANGIO_MODALITIES",
    "ANGIO_SOP_CLASSES",
    "SECONDARY_CAPTURE_SOP_CLASSES",
    "missing_path_error",
    "read_dicomdir",
    "read_run",
    "read_xa",
]

# what pydicom raises for header values it cannot convert or that the reader cannot use: the last
# line of defence, turned into one InputError by read_xa (every case known is checked before)
_HEADER_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, ZeroDivisionError)


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
        return read_run(folder_instances(path), path)
    instance = read_header(path)
    if str(instance.ds.file_meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        return read_dicomdir(path)
    return read_run([instance], path)


def read_dicomdir(path: Path) -> CineRun:
    """Read the one run referenced by a DICOMDIR (error listing the runs when there are several).

    Listed files that are missing or unreadable are refused when they belong to the series being
    read (or to no known series): the run would be read short. Those of other series are
    reported in the run's warnings.
    """
    instances, gaps = dicomdir_instances(path)
    return read_run(instances, path, gaps)


def _run_name(source: Path) -> str:
    """The file's stem, or the folder's name (the media folder's for a DICOMDIR)."""
    if source.is_dir():
        return source.name
    return source.parent.name if source.name.upper() == "DICOMDIR" else source.stem


def read_run(instances: list[DicomInstance], source: Path,
             gaps: tuple[DicomdirGap, ...] = ()) -> CineRun:
    """Build the lazy CineRun of the one run among ``instances`` (``gaps``: a DICOMDIR's files
    that could not be read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on non-conformant values (e.g. UIDs)
        return _build_run(instances, source, gaps)


def _pixel_transform(instance: DicomInstance) -> PixelTransform:
    try:
        return PixelTransform.from_dataset(instance.ds)
    except InputError as error:
        raise InputError(f"{instance.path.name}: {error}") from error


def _build_run(instances: list[DicomInstance], source: Path,
               gaps: tuple[DicomdirGap, ...]) -> CineRun:
    run = choose_run(instances, source) if len(instances) > 1 else instances
    for instance in run:
        check_instance(instance)
    check_consistent(run)
    notes = check_gaps(gaps, run, source)
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
