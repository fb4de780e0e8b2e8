"""Evaluate a model on a folder of images with ground-truth vessel masks.

Images are matched to their masks and optional field-of-view masks (which limit the pixels that
count) by :func:`AngioSegLib.io.datasets.pair_images`. Every image is
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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.errors import InputError
from AngioSegLib.evaluation.metrics import (
    SegmentationScores,
    SegmentLabelScores,
    mean_scores,
    score_segmentation,
    segment_scores,
)
from AngioSegLib.io.datasets import ImagePair, pair_images, read_name_list, read_split
from AngioSegLib.io.images import read_grey as read_gray
from AngioSegLib.io.images import read_grey_image
from AngioSegLib.progress import Progress, ProgressCallback, no_progress

__all__ = [  # pairing and image reading live in AngioSegLib.io; their names stay importable here
    "Evaluation",
    "ImagePair",
    "ImageScores",
    "SegmentSummary",
    "evaluate_pairs",
    "pair_images",
    "read_gray",
    "read_mask",
    "read_name_list",
    "read_split",
    "summarise_segments",
]


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


def read_mask(path: Path, label_map: bool = False) -> np.ndarray:
    """A binary mask: {0,1} or boolean as is, else above half the integer range (>127 for 8-bit,
    half the maximum for floating point); a ``label_map`` (e.g. ARCADE's SYNTAX segments 1–25)
    is vessel wherever it is > 0."""
    return _read_mask(path, label_map)[0]


def _read_mask(path: Path, label_map: bool = False) -> tuple[np.ndarray, str | None]:
    """The mask of :func:`read_mask` and, when the file was not already binary, why not:
    "colour" (grey stored with colour channels), "16-bit" (any integer depth but 8),
    "floating-point", "more than two values", or "two values read as one" (e.g. {0, 100}: both
    at or below 127, the mask is empty)."""
    read = read_grey_image(path)
    image, colour = read.pixels, read.had_channels
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

    reference = read_gray(pair.mask)
    if reference.max() >= SEGMENT_CLASSES:
        raise InputError(f"label map {pair.mask.name} holds value {int(reference.max())}; "
                         f"segment label maps hold 0 (background) to {SEGMENT_CLASSES - 1}")
    named = name_vessels(classes[None], prediction[None], None, 0)[0]
    shown = tuple(int(v) for v in np.unique(reference) if v > 0)
    return ImageScores(pair.name, scores, segment_scores(named, reference), shown)
