"""Image files (PNG, TIFF, JPEG, BMP, GIF, PGM/PPM): which files are images, their order, and
their pixels as one grey plane.

One colour policy for every reader of image files (cine frames, evaluation and training
datasets): an image whose first three channels are equal everywhere is grey, whatever its file
stores (DCA1, XCA and ARCADE save grey angiograms and masks as RGB or RGBA; an alpha channel is
ignored), and its first channel is used; an image whose channels differ anywhere is refused with
an :class:`~AngioSegLib.errors.InputError`, because averaging would turn coloured overlays or
annotations into fake contrast. Pixel values and dtype are kept as stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.errors import InputError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm")


def natural_key(path: Path) -> tuple:
    """Sort key of a file name with numbers compared as numbers: "frame9.png" before
    "frame10.png", "2.png" before "10.png"; letters compare case-insensitively."""
    parts = re.split(r"(\d+)", Path(path).name)
    return tuple(int(part) if part.isdigit() else part.lower() for part in parts)


def image_files(folder: Path) -> list[Path]:
    """The image files (:data:`IMAGE_SUFFIXES`, any letter case) directly inside ``folder``, hidden
    files (".name") skipped, in natural order (:func:`natural_key`)."""
    files = [
        p
        for p in Path(folder).iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=natural_key)


def read_image_array(path: Path) -> np.ndarray:
    """The pixels of one image file as stored ((H, W) or (H, W, C)); InputError in one line when
    the file is empty, truncated or not an image (imageio's plugins raise many kinds of errors,
    SimpleITK's a RuntimeError with a multi-line message)."""
    import imageio.v3 as iio

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes): not an image")
    try:
        return iio.imread(path)
    except (OSError, ValueError, SyntaxError, RuntimeError, IndexError, KeyError) as error:
        raise InputError(f"{path} could not be read as an image: it is damaged or not in an "
                         "image format (PNG, TIFF, JPEG, BMP, ...)") from error


@dataclass(frozen=True)
class GreyImage:
    """One grey plane (H, W), dtype as stored, and whether the file stored it with several
    channels (grey saved as RGB/RGBA: a mask stored so is reported as not binary)."""

    pixels: np.ndarray
    had_channels: bool


def grey_plane(image: np.ndarray, name: str) -> GreyImage:
    """The grey plane of pixels ``image`` ((H, W) or (H, W, C)) under the module's colour policy;
    InputError naming ``name`` for a coloured image or one that is not 2-D."""
    image = np.asarray(image)
    had_channels = image.ndim == 3
    if had_channels:
        channels = image[..., :3] if image.shape[2] >= 3 else image[..., :1]
        if not np.all(channels == channels[..., :1]):
            raise InputError(
                f"{name} is a colour image; AngioSeg reads greyscale angiograms and masks: save "
                "it as greyscale PNG/TIFF (a grey image stored as RGB is fine)"
            )
        image = channels[..., 0]
    if image.ndim != 2:
        raise InputError(f"{name} has shape {image.shape}; expected a 2-D greyscale image")
    return GreyImage(image, had_channels)


def read_grey_image(path: Path) -> GreyImage:
    """The grey plane of the image file ``path`` (see the module's colour policy)."""
    path = Path(path)
    return grey_plane(read_image_array(path), path.name)


def read_grey(path: Path) -> np.ndarray:
    """The grey plane (H, W) of the image file ``path``, dtype as stored (see the module's colour
    policy)."""
    return read_grey_image(path).pixels
