"""Image datasets on disk: each image matched to its mask (and field of view), image name lists
and JSON train/validation split files.

An image is matched to its mask by file name: the same name in the masks folder, or the name with
``_gt`` before the extension (``N.png`` ↔ ``N_gt.png``, possibly in the same folder); an optional
field-of-view mask has the same name, or ``_fov``. Image files are those of
:mod:`AngioSegLib.io.images`, in natural order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from AngioSegLib.errors import InputError, InputNotFoundError
from AngioSegLib.io.images import IMAGE_SUFFIXES, image_files

__all__ = ["FOV_TAG", "MASK_TAG", "ImagePair", "pair_images", "read_name_list", "read_split"]

MASK_TAG = "_gt"
FOV_TAG = "_fov"
SUBSET_ALIASES = (("val", "validation", "valid"), ("train", "training"))


@dataclass(frozen=True)
class ImagePair:
    """An image, its ground-truth mask and, optionally, its field-of-view mask."""

    name: str
    image: Path
    mask: Path
    fov: Path | None = None


def _image_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise InputNotFoundError(f"the {what} folder {folder} does not exist")
    files = image_files(folder)
    if not files:
        raise InputError(
            f"the {what} folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _find(stems: dict[str, Path], stem: str, tags: Sequence[str], exclude: Path) -> Path | None:
    for candidate in (stem + tag for tag in tags):
        found = stems.get(candidate)
        if found is not None and found != exclude:
            return found
    return None


def _select(images: list[Path], names: Sequence[str] | None) -> list[Path]:
    """The images whose name (with or without extension) is in ``names``, in that order."""
    if names is None:
        return images
    by_name = {p.name: p for p in images} | {p.stem: p for p in images}
    keys = [Path(str(n)).name for n in names]
    missing = [k for k in keys if k not in by_name and Path(k).stem not in by_name]
    if missing:
        raise InputError(
            f"{len(missing)} listed image(s) are not in the images folder: {', '.join(missing[:5])}"
        )
    return [by_name.get(k) or by_name[Path(k).stem] for k in keys]


def pair_images(
    images_dir: Path,
    masks_dir: Path | None = None,
    fov_dir: Path | None = None,
    names: Sequence[str] | None = None,
) -> list[ImagePair]:
    """Match every image (or those in ``names``) to its mask and field of view.

    ``masks_dir`` defaults to ``images_dir``; files ending in ``_gt`` or ``_fov`` are never taken
    as images. Raises InputError naming the images without a mask.
    """
    images_dir = Path(images_dir)
    masks_dir = Path(masks_dir) if masks_dir is not None else images_dir
    images = [
        p for p in _image_files(images_dir, "images")
        if not p.stem.endswith((MASK_TAG, FOV_TAG))
    ]
    if not images:
        raise InputError(f"the images folder {images_dir} holds only masks ('_gt' files)")
    masks = {p.stem: p for p in _image_files(masks_dir, "masks")}
    fovs = {p.stem: p for p in _image_files(Path(fov_dir), "field-of-view")} if fov_dir else {}
    pairs, unmatched = [], []
    for image in _select(images, names):
        mask = _find(masks, image.stem, (MASK_TAG, ""), exclude=image)
        if mask is None:
            unmatched.append(image.name)
            continue
        fov = _find(fovs, image.stem, (FOV_TAG, ""), exclude=image) if fov_dir else None
        if fov_dir and fov is None:
            raise InputError(f"no field-of-view mask for {image.name} in {fov_dir}")
        pairs.append(ImagePair(image.stem, image, mask, fov))
    if unmatched:
        raise InputError(
            f"no mask for {len(unmatched)} image(s) ({', '.join(unmatched[:5])}) in {masks_dir}: "
            f"a mask needs the image's file name, or the name with '{MASK_TAG}' (N.png ↔ N_gt.png)"
        )
    return pairs


def read_name_list(path: Path) -> list[str]:
    """Image names from a text file, one per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"the image list {path} does not exist")
    names = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise InputError(f"the image list {path} names no images")
    return names


def _entry_name(entry) -> str:
    if isinstance(entry, dict):
        for key in ("image", "name", "file", "path"):
            if key in entry:
                return Path(str(entry[key])).name
        raise InputError(f"split entry {entry} has no 'image' or 'name' field")
    return Path(str(entry)).name


def read_split(path: Path, subset: str) -> list[str]:
    """Image names of ``subset`` ("train" or "val") in a JSON split file.

    Accepts ``{"val": [...]}`` or the lists under a ``"subsets"``/``"splits"`` key; entries are file
    names, paths or objects with an ``image`` field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"the split file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"the split file {path} is not valid JSON: {error}") from error
    for key in ("subsets", "splits"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    aliases = next((group for group in SUBSET_ALIASES if subset.lower() in group), (subset,))
    found = next((data[k] for k in aliases if isinstance(data, dict) and k in data), None)
    if not isinstance(found, list) or not found:
        keys = ", ".join(k for k, v in data.items() if isinstance(v, list)) or "none"
        raise InputError(f"the split file {path} has no subset {subset!r}; subsets: {keys}")
    return [_entry_name(entry) for entry in found]
