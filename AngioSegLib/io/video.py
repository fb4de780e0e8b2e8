"""Read research data into a `CineRun`: folders of PNG/TIFF frames, single images, video files.

None of these carry calibration or patient geometry, so the run is in pixels (with a warning);
image folders also carry no timing. Frames are greyscale: RGB images whose three channels are
equal are read as grey, really coloured ones are refused; videos are read as their luminance (Y)
plane, with a warning when they hold colour. Image folders are decoded lazily; videos at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from AngioSegLib.cine import CineRun
from AngioSegLib.errors import InputError
from AngioSegLib.io.frames import CachedFrames
from AngioSegLib.io.images import IMAGE_SUFFIXES, grey_plane, image_files, read_image_array

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "has_dicom_files", "image_files",
           "read_image_file", "read_image_folder", "read_video", "to_grey"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")
_NO_CALIBRATION = (
    "no pixel spacing in an image or video file: measurements are in pixels; calibrate on the "
    "catheter to get mm"
)
_NO_TIMING = "image files carry no frame timing: frame times and flow measures are unavailable"


def has_dicom_files(folder: Path) -> bool:
    """Whether ``folder`` holds a DICOMDIR or a file with the DICOM preamble."""
    from pydicom.misc import is_dicom

    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            if p.name.upper() == "DICOMDIR" or is_dicom(p):
                return True
    return False


def to_grey(image: np.ndarray, name: str) -> np.ndarray:
    """(H, W) or (H, W, C) image → (H, W) grey frame of a cine: the colour policy of
    :mod:`.images` (equal channels are grey, real colour is refused), and 8- or 16-bit integer
    pixels only."""
    image = grey_plane(image, name).pixels
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"{name} has {image.dtype} pixels; AngioSeg reads 8- or 16-bit integer images"
        )
    return image


class ImageFrames(CachedFrames):
    """Lazy frames of an image folder: frame ``t`` is the image file ``paths[t]``."""

    def __init__(self, paths: list[Path], shape: tuple[int, int], dtype):
        super().__init__((len(paths), *shape), dtype)
        self.paths = list(paths)

    def decode(self, index: int) -> np.ndarray:
        return to_grey(read_image_array(self.paths[index]), self.paths[index].name)


def _image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the file header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"{path.name} could not be read as an image ({error})") from error


def read_image_folder(folder: Path) -> CineRun:
    """One frame per image file, in natural name order (frame2 before frame10)."""
    paths = image_files(folder)
    if not paths:
        raise InputError(f"the folder {folder} holds no PNG or TIFF files")
    first = to_grey(read_image_array(paths[0]), paths[0].name)
    sizes: dict[tuple[int, int], list[str]] = {}
    for p in paths:
        sizes.setdefault(_image_size(p), []).append(p.name)
    if len(sizes) > 1:
        listed = "; ".join(
            f"{h}×{w} px: {len(n)} files, e.g. '{n[0]}'" for (h, w), n in sizes.items()
        )
        raise InputError(
            f"the images in {folder} differ in size ({listed}); a run needs frames of one size"
        )
    frames = ImageFrames(paths, first.shape, first.dtype)
    frames.preload([-1])  # a bad last file fails here, not mid-run
    return CineRun(
        frames=frames,
        bits_stored=8 * first.dtype.itemsize,
        name=folder.name,
        source_path=folder,
        warnings=(_NO_CALIBRATION, _NO_TIMING),
    )


def read_image_file(path: Path) -> CineRun:
    """A single PNG (one frame) or a (multi-page) TIFF stack."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            stack = tifffile.imread(path)
        except (OSError, ValueError, tifffile.TiffFileError) as error:
            raise InputError(f"{path.name} could not be read as a TIFF ({error})") from error
        if stack.ndim == 4 or (stack.ndim == 3 and stack.shape[-1] not in (3, 4)):
            frames = np.stack([to_grey(f, path.name) for f in stack])
        else:
            frames = to_grey(stack, path.name)[None]
    else:
        frames = to_grey(read_image_array(path), path.name)[None]
    return CineRun(
        frames=frames,
        bits_stored=8 * frames.dtype.itemsize,
        name=path.stem,
        source_path=path,
        warnings=(_NO_CALIBRATION, _NO_TIMING),
    )


def read_video(path: Path) -> CineRun:
    """Every frame of the first video stream as uint8 luminance, with times from the stream."""
    import av

    frames, times, coloured = [], [], False
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path.name} holds no video stream; choose a video or a DICOM")
            stream = container.streams.video[0]
            rate = float(stream.average_rate) if stream.average_rate else None
            for frame in container.decode(stream):
                if not frames:
                    coloured = _has_colour(frame.to_ndarray(format="rgb24"))
                frames.append(frame.to_ndarray(format="gray"))
                times.append(frame.time)
    except av.error.FFmpegError as error:
        raise InputError(f"{path.name} could not be read as a video ({error})") from error
    if not frames:
        raise InputError(f"{path.name} holds no video frames")
    notes = [_NO_CALIBRATION]
    if coloured:
        notes.append("the video holds colour (overlays?); its luminance is used as the image")
    return CineRun(
        frames=np.stack(frames),
        frame_times_s=_video_times(times, rate, notes),
        bits_stored=8,
        name=path.stem,
        source_path=path,
        warnings=tuple(notes),
    )


def _has_colour(rgb: np.ndarray) -> bool:
    """More than 1 % of pixels with channels apart by > 16 grey levels (codec noise is smaller)."""
    spread = rgb.max(axis=2).astype(int) - rgb.min(axis=2)
    return float(np.mean(spread > 16)) > 0.01


def _video_times(times: list, rate: float | None, notes: list[str]) -> np.ndarray | None:
    """Frame presentation times from the first (s), else frames / average rate, else None."""
    if all(t is not None for t in times):
        relative = np.asarray(times, dtype=float) - times[0]
        if len(relative) == 1 or np.all(np.diff(relative) > 0):
            return relative
    if rate:
        return np.arange(len(times)) / rate
    notes.append("the video has no frame timing: frame times and flow measures are unavailable")
    return None
