"""Evaluate a model on a folder of images with ground-truth vessel masks.

Each image is matched to its mask by file name: the same name in the masks folder, or the name
with ``_gt`` before the extension (``N.png`` ↔ ``N_gt.png``, possibly in the same folder). An
optional field-of-view mask (same name, or ``_fov``) limits the pixels that count. Every image is
segmented, thresholded and scored with :func:`.metrics.score_segmentation` (Sen, Spec,
Acc, Dice, IoU, clDice); the mean is the unweighted mean over images.

With ``segments`` the references are coronary-segment label maps (ARCADE's values) and a model
with a segment head names each predicted vessel pixel
(:func:`AngioSegLib.anatomy.segments.name_vessels`); each image is also scored per segment
(:func:`.metrics.segment_scores`), and :class:`SegmentSummary` gives the mean per-image F1 over
segments (a segment predicted but not in the reference scores 0), the mean Dice over the segments
each reference shows, and each segment's mean Dice over the images that show it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.errors import InputError, InputNotFoundError
from AngioSegLib.evaluation.metrics import (
    SegmentationScores,
    SegmentLabelScores,
    mean_scores,
    score_segmentation,
    segment_scores,
)
from AngioSegLib.progress import Progress, ProgressCallback, no_progress

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm")
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


@dataclass(frozen=True)
class ImageScores:
    """The scores of one image."""

    name: str
    scores: SegmentationScores
    segments: SegmentLabelScores | None = None
    reference_segments: tuple[int, ...] = ()  # segment values the reference label map shows


@dataclass(frozen=True)
class SegmentSummary:
    """Coronary-segment scores over images (fractions in [0, 1]; NaN where nothing counts)."""

    mean_f1: float  # per-image mean F1 over segments in the reference or prediction, averaged
    mean_dice_present: float  # per-image mean Dice over the reference's segments, averaged
    dice_by_segment: dict[int, float]  # label value → mean Dice over images that show it
    images_by_segment: dict[int, int]  # label value → images whose reference shows it

    def to_json(self) -> dict:
        from AngioSegLib.anatomy.segments import segment_of

        return {
            "mean_f1": self.mean_f1,
            "mean_dice_present": self.mean_dice_present,
            "per_segment": {
                segment_of(v).syntax: {"value": v, "name": segment_of(v).name,
                                       "dice": self.dice_by_segment[v],
                                       "n_images": self.images_by_segment[v]}
                for v in sorted(self.dice_by_segment)
            },
        }


def summarise_segments(images: Sequence[ImageScores]) -> SegmentSummary:
    """:class:`SegmentSummary` of the images scored per segment."""
    scored = [i for i in images if i.segments is not None]
    f1 = [i.segments.mean_f1 for i in scored if i.segments.f1_by_segment]
    present, by_segment = [], {}
    for item in scored:
        shown = [item.segments.f1_by_segment[v] for v in item.reference_segments]
        if shown:
            present.append(float(np.mean(shown)))
        for v in item.reference_segments:
            by_segment.setdefault(v, []).append(item.segments.f1_by_segment[v])
    return SegmentSummary(
        mean_f1=float(np.mean(f1)) if f1 else float("nan"),
        mean_dice_present=float(np.mean(present)) if present else float("nan"),
        dice_by_segment={v: float(np.mean(d)) for v, d in sorted(by_segment.items())},
        images_by_segment={v: len(d) for v, d in sorted(by_segment.items())},
    )


@dataclass(frozen=True)
class Evaluation:
    """Per-image scores, their mean and what produced them."""

    images: tuple[ImageScores, ...]
    mean: SegmentationScores
    model_name: str
    model_version: str
    device: str
    threshold: float
    empty_references: tuple[str, ...] = ()
    """Names of the images whose reference holds no vessel (in the field of view): Dice 1 when
    nothing is predicted there, 0 otherwise."""
    binarised_masks: int = 0
    """Reference and field-of-view masks that were not binary and were thresholded."""
    warnings: tuple[str, ...] = ()
    """One line each: what a reader of the scores should know (empty references, binarised
    masks)."""
    segments: SegmentSummary | None = None
    """Coronary-segment scores, when the references were segment label maps."""

    def to_json(self) -> dict:
        """JSON form: keys sen, spec, acc, dice, iou, cldice under ``mean`` and per image."""
        empty = set(self.empty_references)
        return {
            "model": self.model_name,
            "model_version": self.model_version,
            "device": self.device,
            "threshold": self.threshold,
            "n_images": len(self.images),
            "empty_references": len(self.empty_references),
            "binarised_masks": self.binarised_masks,
            "warnings": list(self.warnings),
            "mean": self.mean.short,
            "images": [{"name": item.name, **item.scores.short,
                        "empty_reference": item.name in empty,
                        **_image_segments_json(item)} for item in self.images],
            **({"segments": self.segments.to_json()} if self.segments is not None else {}),
        }


def _image_segments_json(item: ImageScores) -> dict:
    if item.segments is None:
        return {}
    from AngioSegLib.anatomy.segments import segment_of

    return {"segment_f1": item.segments.mean_f1,
            "segment_dice": {segment_of(v).syntax: f for v, f in
                             item.segments.f1_by_segment.items()}}


def _natural_key(path: Path) -> tuple:
    """Sort "2.png" before "10.png"."""
    parts = re.split(r"(\d+)", path.stem)
    return tuple(int(p) if p.isdigit() else p.lower() for p in parts)


def _image_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise InputNotFoundError(f"the {what} folder {folder} does not exist")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(
            f"the {what} folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return sorted(files, key=_natural_key)


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


def _read_plane(path: Path) -> tuple[np.ndarray, bool]:
    """A 2-D image and whether it was colour (averaged over its first three channels)."""
    from AngioSegLib.io.video import read_image_array

    image = np.asarray(read_image_array(path))
    colour = image.ndim == 3 and image.shape[-1] in (3, 4)
    if colour:
        image = image[..., :3].mean(axis=-1).astype(image.dtype)
    if image.ndim != 2:
        raise InputError(f"{path} is not a 2-D image: shape {image.shape}")
    return image, colour


def read_gray(path: Path) -> np.ndarray:
    """A 2-D image (colour images averaged over their first three channels)."""
    return _read_plane(path)[0]


def read_mask(path: Path, label_map: bool = False) -> np.ndarray:
    """A binary mask: {0,1} or boolean as is, else above half the integer range (>127 for 8-bit,
    half the maximum for floating point); a ``label_map`` (e.g. ARCADE's SYNTAX segments 1–25)
    is vessel wherever it is > 0."""
    return _read_mask(path, label_map)[0]


def _read_mask(path: Path, label_map: bool = False) -> tuple[np.ndarray, str | None]:
    """The mask of :func:`read_mask` and, when the file was not already binary, why not:
    "colour", "16-bit" (any integer depth but 8), "floating-point", "more than two values", or
    "two values read as one" (e.g. {0, 100}: both at or below 127, the mask is empty)."""
    image, colour = _read_plane(path)
    integer = np.issubdtype(image.dtype, np.integer)
    if label_map or image.dtype == bool or (integer and image.max() <= 1):
        mask = image > 0
    elif integer:
        mask = image > np.iinfo(image.dtype).max // 2
    else:
        mask = image > 0.5 * float(image.max())
    values = np.unique(image)
    if colour:
        reason = "colour"
    elif integer and image.dtype != np.uint8:
        reason = f"{8 * image.dtype.itemsize}-bit"
    elif image.dtype not in (np.uint8, np.bool_):
        reason = "floating-point"
    elif values.size > 2:
        reason = "more than two values"
    elif values.size == 2 and len(np.unique(mask)) < 2:
        reason = "two values read as one"
    else:
        reason = None
    return mask.astype(np.uint8), reason


def _binarised_warning(reasons: list[str], total: int, what: str, label_maps: bool) -> str:
    """One line: how many of ``total`` ``what`` masks were not binary, why, and how they were
    read."""
    kinds = ", ".join(f"{reasons.count(r)} {r}" for r in dict.fromkeys(reasons))
    rule = ("vessel wherever the value is > 0 (label maps)" if label_maps else
            "thresholded at half the range (8-bit: > 127, 16-bit: > 32767, floating point: > half "
            "the maximum); for label maps pass --label-maps (any value > 0)")
    return (f"{len(reasons)} of {total} {what} masks were not binary and were binarised "
            f"({kinds}): {rule}")


def _empty_warning(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    if len(names) == 1:
        return (f"1 reference mask holds no vessel; its Dice is 1 only if nothing is predicted "
                f"({shown})")
    return (f"{len(names)} reference masks hold no vessel; their Dice is 1 only if nothing is "
            f"predicted ({shown})")


def _check_shape(what: str, path: Path, found: tuple, image: ImagePair, expected: tuple) -> None:
    if found != expected:
        raise InputError(
            f"{what} {path.name} is {found[1]}×{found[0]} px but its image {image.image.name} is "
            f"{expected[1]}×{expected[0]} px; they must be the same size"
        )


def evaluate_pairs(
    pairs: Sequence[ImagePair],
    segmenter,
    threshold: float = 0.5,
    progress: ProgressCallback = no_progress,
    label_maps: bool = False,
    segments: bool = False,
) -> Evaluation:
    """Segment each image with ``segmenter`` (a :class:`~AngioSegLib.segment.segmenter.Segmenter`),
    threshold the probabilities at ``threshold`` and score them against the masks (label maps: any
    value > 0 is vessel).

    A reference with no vessel scores Dice 1 when nothing is predicted (0 otherwise); such images
    are listed in ``empty_references``. Masks that were not binary (colour, 16-bit, more than two
    values) are binarised; both are said in the evaluation's ``warnings``. ``segments``: the
    masks are segment label maps, scored per segment too (the model needs a segment head).
    """
    if not pairs:
        raise InputError("no images to evaluate")
    if segments and not getattr(segmenter, "segment_classes", 0):
        raise InputError(f"model {segmenter.model_name} has no coronary-segment head, so it "
                         "names no segment; evaluate a model trained with --segments, or "
                         "score vessels only (--masks … --label-maps)")
    label_maps = label_maps or segments
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must be between 0 and 1, found {threshold}")
    results, empty, mask_reasons, fov_reasons = [], [], [], []
    for k, pair in enumerate(pairs):
        image = read_gray(pair.image)
        truth, reason = _read_mask(pair.mask, label_maps)
        mask_reasons += [reason] if reason else []
        _check_shape("mask", pair.mask, truth.shape, pair, image.shape)
        fov = None
        if pair.fov is not None:
            fov, reason = _read_mask(pair.fov)
            fov_reasons += [reason] if reason else []
            _check_shape("field of view", pair.fov, fov.shape, pair, image.shape)
        if not (truth if fov is None else truth & fov).any():
            empty.append(pair.name)
        run = segmenter.segment_run(image[None], classes=segments)
        prediction = run.probabilities[0] >= threshold
        scores = score_segmentation(prediction, truth, fov)
        if segments:
            results.append(_segment_scored(pair, scores, prediction, run.classes[0]))
        else:
            results.append(ImageScores(pair.name, scores))
        progress(Progress("evaluate", k + 1, len(pairs), f"{pair.image.name}"))
    notes = [_empty_warning(empty)] if empty else []
    if mask_reasons:
        notes.append(_binarised_warning(mask_reasons, len(pairs), "reference", label_maps))
    if fov_reasons:
        notes.append(_binarised_warning(fov_reasons, len(pairs), "field-of-view", False))
    return Evaluation(
        images=tuple(results),
        mean=mean_scores([r.scores for r in results]),
        model_name=segmenter.model_name,
        model_version=segmenter.model_version,
        device=segmenter.device_label,
        threshold=threshold,
        empty_references=tuple(empty),
        binarised_masks=len(mask_reasons) + len(fov_reasons),
        warnings=tuple(notes),
        segments=summarise_segments(results) if segments else None,
    )


def _segment_scored(pair: ImagePair, scores: SegmentationScores, prediction: np.ndarray,
                    classes: np.ndarray) -> ImageScores:
    """The image's scores with its segment scores against its reference label map."""
    from AngioSegLib.anatomy.segments import SEGMENT_CLASSES, name_vessels

    reference = _read_plane(pair.mask)[0]
    if reference.max() >= SEGMENT_CLASSES:
        raise InputError(f"label map {pair.mask.name} holds value {int(reference.max())}; "
                         f"segment label maps hold 0 (background) to {SEGMENT_CLASSES - 1}")
    named = name_vessels(classes[None], prediction[None], None, 0)[0]
    shown = tuple(int(v) for v in np.unique(reference) if v > 0)
    return ImageScores(pair.name, scores, segment_scores(named, reference), shown)
