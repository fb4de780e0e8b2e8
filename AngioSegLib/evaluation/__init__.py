"""Scoring segmentations against references: metrics (:mod:`.metrics`: Dice, clDice, centerline
recall, segment F1, flicker) and image-folder evaluation (:mod:`.evaluate`)."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "dice": "metrics",
    "score_segmentation": "metrics",
    "evaluate_pairs": "evaluate",
    "pair_images": "evaluate",
})
