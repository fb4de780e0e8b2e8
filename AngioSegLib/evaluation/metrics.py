"""Segmentation and temporal-consistency metrics.

Sen, Spec, Acc, Dice and IoU come from the pixel confusion counts; clDice (Shit et al., CVPR 2021)
compares skeletons, so a thin vessel counts as much as a thick one; centerline recall is the share
of the reference skeleton that the prediction covers (within 1 px), the score for partial labels;
temporal flicker is the mean over consecutive frames of 1 − IoU(mask_t, mask_{t−1} moved onto
frame t).

Coronary-segment label maps (:func:`segment_scores`) are scored per segment value: the pixel F1
(= Dice) 2·TP / (2·TP + FP + FN) of each segment present in the reference or the prediction;
an image's mean F1 is their mean (a segment predicted but absent from the reference scores 0,
as one missed does), the ARCADE challenge's per-image F1 over segment classes; an image where
neither names any segment is left out of means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from AngioSegLib.errors import InputError

_EPS = 1e-9


@dataclass(frozen=True)
class SegmentationScores:
    """Scores of one predicted mask against its ground truth (fractions in [0, 1])."""

    sensitivity: float
    specificity: float
    accuracy: float
    dice: float
    iou: float
    cldice: float
    centerline_recall: float = float("nan")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def short(self) -> dict[str, float]:
        """Keys as in reports and JSON: sen, spec, acc, dice, iou, cldice."""
        s = self
        return {"sen": s.sensitivity, "spec": s.specificity, "acc": s.accuracy,
                "dice": s.dice, "iou": s.iou, "cldice": s.cldice,
                "cl_recall": s.centerline_recall}


def _as_bool_pair(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(prediction) > 0, np.asarray(truth) > 0
    if pred.shape != true.shape:
        raise InputError(f"prediction {pred.shape} and ground truth {true.shape} differ in shape")
    return pred, true


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice = 2|P∩G| / (|P|+|G|); 1.0 when both are empty."""
    pred, true = _as_bool_pair(prediction, truth)
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(pred, true).sum() / total)


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Jaccard index |P∩G| / |P∪G|; 1.0 when both are empty."""
    pred, true = _as_bool_pair(prediction, truth)
    union = np.logical_or(pred, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, true).sum() / union)


def cldice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Centerline Dice of 2-D masks, or of (T, H, W) stacks frame by frame (pooled counts)."""
    pred, true = _as_bool_pair(prediction, truth)
    if pred.ndim == 2:
        pred, true = pred[None], true[None]
    t_prec_num = t_prec_den = t_sens_num = t_sens_den = 0
    for p, g in zip(pred, true, strict=True):
        skel_p, skel_g = skeletonize(p), skeletonize(g)
        t_prec_num += np.logical_and(skel_p, g).sum()
        t_prec_den += skel_p.sum()
        t_sens_num += np.logical_and(skel_g, p).sum()
        t_sens_den += skel_g.sum()
    if t_prec_den == 0 and t_sens_den == 0:
        return 1.0
    precision = t_prec_num / (t_prec_den + _EPS)
    sensitivity = t_sens_num / (t_sens_den + _EPS)
    return float(2 * precision * sensitivity / (precision + sensitivity + _EPS))


def centerline_recall(prediction: np.ndarray, truth: np.ndarray, tolerance_px: int = 1) -> float:
    """Fraction of the reference's skeleton inside the prediction dilated by ``tolerance_px``
    (a square of side 2·tolerance + 1): how much of the labelled vessel tree was found, whatever
    its width. The score for partial labels (ARCADE's main segments): unlabelled vessels found do
    not lower it. 2-D masks, or (T, H, W) stacks frame by frame (pooled counts); 1.0 when the
    reference is empty."""
    pred, true = _as_bool_pair(prediction, truth)
    if pred.ndim == 2:
        pred, true = pred[None], true[None]
    size = 2 * tolerance_px + 1
    found = total = 0
    for p, g in zip(pred, true, strict=True):
        skeleton = skeletonize(g)
        reach = ndimage.binary_dilation(p, structure=np.ones((size, size), bool))
        found += int(np.logical_and(skeleton, reach).sum())
        total += int(skeleton.sum())
    return 1.0 if total == 0 else found / total


def score_segmentation(
    prediction: np.ndarray, truth: np.ndarray, field_of_view: np.ndarray | None = None
) -> SegmentationScores:
    """All scores of ``prediction`` against ``truth``; pixels outside ``field_of_view`` ignored."""
    pred, true = _as_bool_pair(prediction, truth)
    if field_of_view is not None:
        fov = np.asarray(field_of_view) > 0
        if fov.shape != pred.shape:
            raise InputError(f"field of view {fov.shape} and mask {pred.shape} differ in shape")
        pred, true = pred & fov, true & fov
        n = int(fov.sum())
    else:
        n = pred.size
    tp = int(np.logical_and(pred, true).sum())
    fp = int(pred.sum()) - tp
    fn = int(true.sum()) - tp
    tn = n - tp - fp - fn
    return SegmentationScores(
        sensitivity=tp / (tp + fn) if tp + fn else 1.0,
        specificity=tn / (tn + fp) if tn + fp else 1.0,
        accuracy=(tp + tn) / n if n else 1.0,
        dice=dice(pred, true),
        iou=iou(pred, true),
        cldice=cldice(pred, true),
        centerline_recall=centerline_recall(pred, true),
    )


def mean_scores(scores: list[SegmentationScores]) -> SegmentationScores:
    """Unweighted mean of each score over images."""
    if not scores:
        raise InputError("no scores to average: evaluate at least one image")
    keys = SegmentationScores.__dataclass_fields__
    return SegmentationScores(**{k: float(np.mean([getattr(s, k) for s in scores])) for k in keys})


def temporal_flicker(masks: np.ndarray, previous_on_current: np.ndarray | None = None) -> float:
    """Mean over t ≥ 1 of 1 − IoU(mask_t, mask_{t−1} moved onto frame t).

    ``previous_on_current[t-1]`` is mask t−1 warped onto frame t along the motion (see
    :func:`AngioSegLib.temporal.filter.warp_previous_onto_current`); without it the raw previous
    mask is used, which also counts real vessel motion as flicker. 0 for a run of one frame.
    """
    stack = np.asarray(masks) > 0
    if stack.ndim != 3:
        raise InputError(f"flicker needs a (T, H, W) mask stack, found shape {stack.shape}")
    if stack.shape[0] < 2:
        return 0.0
    previous = stack[:-1] if previous_on_current is None else np.asarray(previous_on_current) > 0.5
    if previous.shape != stack[1:].shape:
        raise InputError(
            f"previous_on_current needs shape {stack[1:].shape}, found {previous.shape}"
        )
    pairs = zip(stack[1:], previous, strict=True)
    return float(np.mean([1.0 - iou(current, prev) for current, prev in pairs]))


@dataclass(frozen=True)
class SegmentLabelScores:
    """Per-segment F1 (label value → F1 in [0, 1]) of one label map and their mean."""

    f1_by_segment: dict[int, float]

    @property
    def mean_f1(self) -> float:
        """Mean F1 over the segments present in the reference or prediction (NaN: none)."""
        values = list(self.f1_by_segment.values())
        return float(np.mean(values)) if values else float("nan")


def segment_scores(prediction: np.ndarray, reference: np.ndarray) -> SegmentLabelScores:
    """F1 per segment value of a predicted label map (H, W; 0 = no segment) against a reference
    label map of the same shape (see the module docstring)."""
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    if prediction.shape != reference.shape:
        raise InputError(f"label maps differ in shape: prediction {prediction.shape}, "
                         f"reference {reference.shape}")
    values = sorted(set(np.unique(prediction).tolist()) | set(np.unique(reference).tolist()))
    scores = {}
    for value in values:
        if value == 0:
            continue
        p, r = prediction == value, reference == value
        overlap = np.count_nonzero(p & r)
        scores[int(value)] = 2.0 * overlap / (np.count_nonzero(p) + np.count_nonzero(r))
    return SegmentLabelScores(scores)
