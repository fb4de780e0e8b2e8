"""Network input normalisations: the one place that turns a raw frame into network input.

A bundle names the normalisation it was trained with (``metadata["angioseg"]["normalisation"]``);
training and inference both call :func:`normalise_frame` with that name.

- ``percentile-inverted``: grey levels mapped linearly so the 1st percentile becomes 1 and the
  99th becomes 0 (X-ray contrast is dark), clipped to [0, 1].
- ``flattened-inverted``: the same mapping applied to the frame minus its vessel-free background
  (a grey closing of the frame at 128 px, wider than any coronary artery or catheter, blurred and
  resized back). Dense regions (diaphragm, spine) and exposure gradients no longer squash the
  vessel contrast into the clipped top percent.
"""

from __future__ import annotations

import cv2
import numpy as np

from AngioSegLib.choices import closest_choice
from AngioSegLib.errors import InputError, ModelError

LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.0
BACKGROUND_SIZE = 128  # px: longer side at which the background is estimated
BACKGROUND_KERNEL = 9  # px at BACKGROUND_SIZE: removes dark structures up to ~7 % of the field
DEFAULT_NORMALISATION = "flattened-inverted"  # what new models are trained with
LEGACY_NORMALISATION = "percentile-inverted"  # assumed for bundles that name none (0.1.0)

NORMALISATIONS = {
    "percentile-inverted": "per frame: float, scaled so the 1st percentile is 1 and the 99th is 0, "
                           "clipped to [0, 1] (inverted: contrast-filled vessels are bright)",
    "flattened-inverted": "per frame: frame minus its background (grey closing, 9 px ellipse at "
                          "128 px, Gaussian-smoothed, resized back), then scaled so the 1st "
                          "percentile is 1 and the 99th is 0, clipped to [0, 1]",
}


def normalisation_record(name: str) -> dict:
    """The metadata entry of normalisation ``name`` (ModelError if unknown)."""
    check_normalisation(name)
    return {"name": name, "description": NORMALISATIONS[name],
            "low_percentile": LOW_PERCENTILE, "high_percentile": HIGH_PERCENTILE,
            "inverted": True}


def check_normalisation(name: str) -> str:
    """``name`` if this version implements it, else a ModelError that lists the known ones."""
    if name not in NORMALISATIONS:
        close = closest_choice(name, NORMALISATIONS)
        hint = f"; did you mean {close!r}?" if close else ""
        raise ModelError(f"input normalisation {name!r} is not implemented by this version of "
                         f"AngioSeg; known: {', '.join(NORMALISATIONS)}{hint}")
    return name


def background(image: np.ndarray) -> np.ndarray:
    """Vessel-free background (H, W) float32 of a float32 frame: closing at 128 px, blurred."""
    rows, cols = image.shape
    factor = BACKGROUND_SIZE / max(rows, cols)
    small_size = (max(1, round(cols * factor)), max(1, round(rows * factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (BACKGROUND_KERNEL, BACKGROUND_KERNEL))
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    smooth = cv2.GaussianBlur(closed, (0, 0), sigmaX=BACKGROUND_KERNEL / 4)
    return cv2.resize(smooth, (cols, rows), interpolation=cv2.INTER_LINEAR)


def normalise_frame(frame: np.ndarray, method: str = DEFAULT_NORMALISATION) -> np.ndarray:
    """Network input of one frame (H, W) of any numeric type: float32 in [0, 1], vessels bright.

    ``method`` is one of :data:`NORMALISATIONS` (see the module docstring); a flat frame gives
    zeros.
    """
    image = np.asarray(frame, dtype=np.float32)
    if image.ndim != 2:
        raise InputError(f"normalise_frame expects one (H, W) frame, found shape {image.shape}")
    if check_normalisation(method) == "flattened-inverted":
        image = image - background(image)
    low, high = np.percentile(image, (LOW_PERCENTILE, HIGH_PERCENTILE))
    if high <= low:
        return np.zeros_like(image)
    return np.clip((high - image) / (high - low), 0.0, 1.0).astype(np.float32, copy=False)
