"""Readers that turn files into a `CineRun`; :func:`read_cine` picks the right one."""

from __future__ import annotations

from pathlib import Path

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError

__all__ = ["read_cine"]


def read_cine(path: str | Path) -> CineRun:
    """Read a run from an XA DICOM file, a folder of one run's DICOM files, a DICOMDIR, a folder of
    PNG/TIFF frames, a PNG/TIFF file, or a video file (mp4, avi, ...).

    DICOM frames are decoded lazily (``cine.frames`` is a frame source); images and videos are
    read at once. Raises :class:`~AngioSegLib.errors.InputNotFoundError` for a missing path (a
    symbolic-link loop is named as such) and
    :class:`~AngioSegLib.errors.InputError` (one actionable message) for anything unusable.
    """
    from AngioSegLib.io import video, xa

    path = Path(path).expanduser()
    try:
        found = path.exists()
    except OSError as error:  # an unreadable parent folder
        raise InputError(f"{path} cannot be reached ({error.strerror}); check the folder's "
                         "permissions") from error
    if not found:
        raise xa.missing_path_error(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in video.VIDEO_SUFFIXES:
            return video.read_video(path)
        if suffix in video.IMAGE_SUFFIXES:
            return video.read_image_file(path)
        return xa.read_xa(path)
    if not path.is_dir():
        raise InputError(f"{path} is neither a file nor a folder; choose a DICOM file or folder")
    if video.image_files(path) and not video.has_dicom_files(path):
        return video.read_image_folder(path)
    return xa.read_xa(path)
