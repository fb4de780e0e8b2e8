"""Validation scores of a network during training, through the inference path users run.

Every score here segments each sample's raw frame with a
:class:`~AngioSegLib.segment.segmenter.Segmenter`: the bundle's normalisation, the inference-scale
policy (frames resized as at inference), padding to a multiple of 32 px and back, and the
field-of-view clearing. :func:`validation_segmenter` wraps the network being trained in one
(CPU, PyTorch, fp32) without moving it or changing its memory layout; a trained bundle is scored
the same way with ``Segmenter(bundle, device="cpu", backend="torch")``. Predictions are
thresholded at ``> 0.5``.

Samples are the dicts of :mod:`AngioSegLib.training.data`: the raw ``frame`` (H, W) is segmented
and scored against ``label`` (1, H, W) and, for the segment head, ``segments`` (1, H, W).
"""

from __future__ import annotations

import numpy as np

from AngioSegLib.model.bundle import LoadedModel

VALIDATION_MODEL = "in-training"
THRESHOLD = 0.5


class _InPlace:
    """The network being trained, as the Segmenter's torch runner holds it: ``eval()`` switches
    the network to eval mode, ``to()`` leaves its device and memory layout as training set them
    (the runner would make a CPU network channels-last, in place), and inputs are run in the
    network's own (contiguous) layout: a channels-last input to contiguous weights is ~20 %
    slower on the CPU."""

    def __init__(self, network):
        self.network = network
        self.segment_classes = int(getattr(network, "segment_classes", 0))

    def eval(self) -> _InPlace:
        self.network.eval()
        return self

    def to(self, *args, **kwargs) -> _InPlace:
        return self

    def __call__(self, batch):
        return self.network(batch.contiguous())


def validation_segmenter(network, normalisation: str):
    """A CPU, torch, fp32 :class:`~AngioSegLib.segment.segmenter.Segmenter` around ``network``
    (a ``torch.nn.Module``, set to eval mode here) whose inputs are normalised with
    ``normalisation``. Make a new one after each training phase: training sets train mode."""
    from AngioSegLib.segment.segmenter import Segmenter

    model = LoadedModel(_InPlace(network), {}, VALIDATION_MODEL, "0", None,
                        {"name": normalisation})
    return Segmenter(model, device="cpu", backend="torch", precision="fp32")


def _predictions(segmenter, samples: list[dict]) -> list[np.ndarray]:
    """Thresholded vessel prediction (H, W) bool of each sample's raw frame."""
    return [segmenter.segment_frames(np.asarray(s["frame"])[None])[0] > THRESHOLD
            for s in samples]


def validation_dice(segmenter, samples: list[dict]) -> float:
    """Mean Dice of the thresholded prediction over samples (NaN when there are none)."""
    from AngioSegLib.evaluation.metrics import dice

    if not samples:
        return float("nan")
    predictions = _predictions(segmenter, samples)
    return float(np.mean([dice(p, s["label"][0] > 0) for p, s in zip(predictions, samples,
                                                                      strict=True)]))


def validation_recall(segmenter, samples: list[dict]) -> tuple[float, float]:
    """Mean (sensitivity, centerline recall) of the thresholded prediction over samples with
    partial labels (NaN, NaN when there are none)."""
    from AngioSegLib.evaluation.metrics import centerline_recall

    if not samples:
        return float("nan"), float("nan")
    sen, recall = [], []
    for prediction, s in zip(_predictions(segmenter, samples), samples, strict=True):
        truth = s["label"][0] > 0
        sen.append((prediction & truth).sum() / max(truth.sum(), 1))
        recall.append(centerline_recall(prediction, truth))
    return float(np.mean(sen)), float(np.mean(recall))


def validation_segment_f1(segmenter, samples: list[dict]) -> float:
    """Mean per-image F1 over the SYNTAX segments
    (:func:`~AngioSegLib.evaluation.metrics.segment_scores`) of the thresholded vessel named as the
    pipeline names a frame (:mod:`AngioSegLib.anatomy.segments`), against the samples' label maps
    (NaN without a segment head or samples)."""
    from AngioSegLib.anatomy.segments import IGNORE_CLASS, vote_nearby
    from AngioSegLib.evaluation.metrics import segment_scores

    if not samples or not segmenter.segment_classes:
        return float("nan")
    scores = []
    for s in samples:
        run = segmenter.segment_run(np.asarray(s["frame"])[None], classes=True)
        vessel = run.probabilities[0] > THRESHOLD
        reference = np.where(s["segments"][0] == IGNORE_CLASS, 0, s["segments"][0])
        named = vote_nearby(run.classes[0], vessel)
        scores.append(segment_scores(named, reference).mean_f1)
    return float(np.mean(scores))


def score_samples(segmenter, samples: list[dict]):
    """Mean Sen, Spec, Acc, Dice, IoU and clDice
    (:class:`~AngioSegLib.evaluation.metrics.SegmentationScores`) of the thresholded predictions
    over samples."""
    from AngioSegLib.evaluation.metrics import mean_scores, score_segmentation

    return mean_scores([score_segmentation(p, s["label"][0] > 0)
                        for p, s in zip(_predictions(segmenter, samples), samples, strict=True)])
