"""The exposed field of view of an angiogram: where the collimator shutters do not block the beam.

Shutters leave near-black regions (straight or circular edges) around the exposed field. Their
edge is a sharp dark/bright step that a vessel network can take for a vessel wall; the
:class:`~AngioSegLib.segment.Segmenter` clears vessel probabilities outside the field, shrunk by a
small margin. A frame without shutters gives an all-true field (the image border is not an edge).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

SHUTTER_LEVEL = 0.05  # fraction of the grey range (to the 99th percentile) above the darkest pixel
SHUTTER_MIN_AREA = 0.02  # a shutter covers at least this fraction of the frame (a vessel never)
SHUTTER_MEAN_LEVEL = 0.01  # ... and its mean lies this close to the darkest grey (dense anatomy
#                            such as the liver is darker than vessels, but textured, and brighter)
MARGIN_FRACTION = 0.008  # of the longer side: the band inside a shutter edge that is cleared


def field_of_view(frame: np.ndarray, margin_fraction: float = MARGIN_FRACTION) -> np.ndarray:
    """(H, W) bool: the frame outside its shutters, less a band of ``margin_fraction`` × the
    longer side (px) along their edges. Shutters: connected regions within ``SHUTTER_LEVEL`` of
    the darkest grey that cover at least ``SHUTTER_MIN_AREA`` of the frame with a mean within
    ``SHUTTER_MEAN_LEVEL`` of the darkest grey (shutter regions are flat black)."""
    image = np.asarray(frame, dtype=np.float32)
    darkest, high = float(image.min()), float(np.percentile(image, 99.0))
    if high <= darkest:
        return np.ones(image.shape, bool)
    labels, n = ndimage.label(image <= darkest + SHUTTER_LEVEL * (high - darkest))
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    sums = np.bincount(labels.ravel(), weights=image.ravel() - darkest, minlength=n + 1)
    means = sums / np.maximum(areas, 1)
    flat = (areas >= SHUTTER_MIN_AREA * image.size) & (
        means <= SHUTTER_MEAN_LEVEL * (high - darkest))
    flat[0] = False
    if not flat.any():
        return np.ones(image.shape, bool)
    shutter = flat[labels].astype(np.uint8)
    margin = max(int(round(margin_fraction * max(image.shape))), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(shutter, kernel) == 0
