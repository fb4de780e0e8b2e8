"""The exposed field of view of an angiogram: where the collimator shutters do not block the beam.

Collimators leave regions around the exposed field that hold no anatomy: near-black behind lead
blades, but after display processing also flat grey or bright borders, and soft (graded) shutters
or wedge filters whose edge ramps over tens of pixels. Every such edge is a long dark/bright step
that a vessel network can take for a vessel wall; the :class:`~.segmenter.Segmenter`
clears vessel probabilities outside the field, along its edge and over its graded fringe.

The collimated region is found in three steps:

1. *flat black*: connected regions within ``SHUTTER_LEVEL`` of the darkest grey, covering at
   least ``SHUTTER_MIN_AREA`` of the frame, whose mean lies within ``SHUTTER_MEAN_LEVEL`` of it;
2. *flat borders of any grey*: regions touching the image border whose local standard deviation
   (``FLAT_WINDOW`` px) is below ``FLAT_STD`` of the grey range — anatomy is never that flat;
3. *graded fringe*: pixels within ``FRINGE_REACH`` of the shutters found so far whose smoothed
   grey lies less than ``FRINGE_LEVEL`` of the way from the shutter's grey to the local field
   level (a soft shutter's ramp, not yet the field), in regions wider than a vessel (a
   morphological opening of ``FRINGE_OPENING`` × the reach): a dark vessel that runs into the
   shutter is not a ramp.

A frame without shutters gives an all-true field (the image border is not an edge). The image
border still holds an edge of its own on many systems (a dark or bright frame line of a few
pixels, the detector's last rows): where it does, :func:`edge_strips` finds predictions that run
along it — a vessel leaves the frame across the border, it does not follow it — and the
Segmenter clears them.
"""

from __future__ import annotations

import cv2
import numpy as np

SHUTTER_LEVEL = 0.05  # fraction of the grey range (to the 99th percentile) above the darkest pixel
SHUTTER_MIN_AREA = 0.02  # a shutter covers at least this fraction of the frame (a vessel never)
SHUTTER_MEAN_LEVEL = 0.01  # ... and its mean lies this close to the darkest grey (dense anatomy
#                            such as the liver is darker than vessels, but textured, and brighter)
FLAT_WINDOW = 7  # px: window of the local standard deviation
FLAT_STD = 0.002  # of the grey range: flatter than any irradiated anatomy with quantum noise
FRINGE_REACH = 0.06  # of the longer side: how far a graded shutter edge may ramp into the frame
FRINGE_OPENING = 0.33  # of the reach: ramps narrower than 2× this (vessels meeting the edge) stay
FRINGE_GRID = 128  # px: the longer side of the grid the fringe is found on
FRINGE_LEVEL = 0.6  # of the way from the shutter's grey to the field's: still the shutter's ramp
MARGIN_FRACTION = 0.008  # of the longer side: the band inside a shutter edge that is cleared
STRIP_BAND = 0.025  # of the longer side: the band along the image border searched for strips
STRIP_MIN_LENGTH = 0.1  # of the longer side: a strip runs at least this far along the border
BORDER_STEP = 0.1  # of the grey range: the border line differs this much from the image inside


def _components(mask: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """(labels, count + 1, areas) of the 8-connected regions of ``mask`` (label 0: the rest)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, n, stats[:, cv2.CC_STAT_AREA]


def _flat_black(image: np.ndarray, darkest: float, span: float) -> np.ndarray:
    labels, n, areas = _components(image <= darkest + SHUTTER_LEVEL * span)
    sums = np.bincount(labels.ravel(), weights=image.ravel() - darkest, minlength=n)
    means = sums / np.maximum(areas, 1)
    flat = (areas >= SHUTTER_MIN_AREA * image.size) & (means <= SHUTTER_MEAN_LEVEL * span)
    flat[0] = False
    return flat[labels]


def _flat_border(image: np.ndarray, span: float) -> np.ndarray:
    """Regions touching the image border that are flat (no quantum noise, no anatomy)."""
    size = (FLAT_WINDOW, FLAT_WINDOW)
    mean = cv2.blur(image, size, borderType=cv2.BORDER_REFLECT)
    variance = cv2.blur(image * image, size, borderType=cv2.BORDER_REFLECT) - mean * mean
    flat = variance < (FLAT_STD * span) ** 2
    labels, n, areas = _components(flat)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = np.zeros(n, bool)
    keep[edge] = True
    keep &= areas >= SHUTTER_MIN_AREA * image.size
    keep[0] = False
    region = keep[labels].astype(np.uint8)  # the window straddling its edge saw the field too
    return cv2.dilate(region, np.ones(size, np.uint8)) > 0


def _graded_fringe(image: np.ndarray, shutter: np.ndarray) -> np.ndarray:
    """Pixels near ``shutter`` still on its ramp towards the local field level (found on a
    ``FRINGE_GRID`` px grid: a ramp is tens of pixels wide, and the blurs are 16× cheaper)."""
    rows, cols = image.shape
    step = max(1, int(max(rows, cols) // FRINGE_GRID))
    size = (max(1, cols // step), max(1, rows // step))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    blocked = cv2.resize(shutter.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    if not blocked.any():
        return np.zeros(image.shape, bool)
    reach = max(FRINGE_REACH * max(small.shape), 2.0)
    distance = cv2.distanceTransform((~blocked).astype(np.uint8), cv2.DIST_L2, 5)
    near = (distance > 0) & (distance <= reach)
    far = (distance > reach).astype(np.float32)
    if not near.any() or far.sum() < SHUTTER_MIN_AREA * small.size:
        return np.zeros(image.shape, bool)
    weight = cv2.GaussianBlur(far, (0, 0), reach)
    field_level = cv2.GaussianBlur(small * far, (0, 0), reach) / np.maximum(weight, 1e-6)
    shutter_level = float(np.median(image[shutter]))
    smooth = cv2.GaussianBlur(small, (0, 0), 0.5)  # the grid's area averaging did the rest
    depth = field_level - shutter_level
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (smooth - shutter_level) / depth
    ramp = near & (np.abs(depth) > SHUTTER_LEVEL * float(np.ptp(image))) & (fraction < FRINGE_LEVEL)
    # a ramp runs along the shutter edge; a dark vessel that meets the edge is narrow: opened away
    radius = max(1, int(round(FRINGE_OPENING * reach)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ramp = cv2.morphologyEx((ramp | blocked).astype(np.uint8), cv2.MORPH_OPEN, disk) > 0
    ramp &= ~blocked
    labels, _, _ = _components(ramp | blocked)  # only ramps that start at the shutter
    touching = np.unique(labels[blocked])
    fringe = np.isin(labels, touching[touching > 0]).astype(np.uint8)
    fringe = cv2.dilate(fringe, np.ones((3, 3), np.uint8))  # one grid cell: no ragged edge
    full = cv2.resize(fringe, (cols, rows), interpolation=cv2.INTER_NEAREST) > 0
    return full & ~shutter


def collimated(frame: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels behind the collimator (flat black, flat borders, graded fringes)."""
    image = np.asarray(frame, dtype=np.float32)
    sample = image[::2, ::2]  # percentiles of a quarter of the pixels: the same to 0.1 %
    darkest = float(image.min())
    low, high, top = (float(v) for v in np.percentile(sample, (1.0, 99.0, 99.9)))
    span = max(high - darkest, top - low)
    if span <= 0:
        return np.zeros(image.shape, bool)
    shutter = _flat_black(image, darkest, max(high - darkest, 1e-6)) | _flat_border(image, span)
    if not shutter.any():
        return shutter
    return shutter | _graded_fringe(image, shutter)


def field_of_view(frame: np.ndarray, margin_fraction: float = MARGIN_FRACTION) -> np.ndarray:
    """(H, W) bool: the frame outside its collimation (:func:`collimated`), less a band of
    ``margin_fraction`` × the longer side (px) along its edges."""
    shutter = collimated(frame).astype(np.uint8)
    if not shutter.any():
        return np.ones(shutter.shape, bool)
    margin = max(int(round(margin_fraction * max(shutter.shape))), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(shutter, kernel) == 0


def edge_strips(mask: np.ndarray, frame: np.ndarray, band_fraction: float = STRIP_BAND,
                min_length_fraction: float = STRIP_MIN_LENGTH) -> np.ndarray:
    """(H, W) bool: the pixels of ``mask`` (H, W bool, the predicted vessel) that run along a
    side of the image border where ``frame`` (H, W) has an edge of its own. A side has one
    when its outermost line's median grey differs from the median grey ``2 × band`` px inside by
    more than ``BORDER_STEP`` of the frame's grey range (a dark or bright frame line, a graded
    detector edge; a cropped angiogram has none, and its vessels run on to the crop's border).
    There, the connected pieces of ``mask`` inside the band of ``band_fraction`` × the longer
    side (px, at least 2) whose extent along the border reaches ``min_length_fraction`` × the
    longer side are returned. A vessel crossing the border at 25° or more stays whole (its piece
    in the band is shorter); of a vessel running along the border only the band is cleared."""
    mask = np.asarray(mask, bool)
    image = np.asarray(frame, np.float32)
    rows, cols = mask.shape
    band = max(2, int(round(band_fraction * max(rows, cols))))
    min_length = max(band + 1, min_length_fraction * max(rows, cols))
    strips = np.zeros(mask.shape, bool)
    if min(rows, cols) <= 4 * band or not mask.any():
        return strips
    low, high = (float(v) for v in np.percentile(image[::2, ::2], (1.0, 99.0)))
    span = max(high - low, 1e-6)
    inner = 2 * band
    sides = (  # (the band, its outermost line, the line 2 × band inside, extent along it)
        (np.s_[:band, :], image[0], image[inner], cv2.CC_STAT_WIDTH),
        (np.s_[-band:, :], image[-1], image[-1 - inner], cv2.CC_STAT_WIDTH),
        (np.s_[:, :band], image[:, 0], image[:, inner], cv2.CC_STAT_HEIGHT),
        (np.s_[:, -band:], image[:, -1], image[:, -1 - inner], cv2.CC_STAT_HEIGHT),
    )
    for where, outer_line, inner_line, along in sides:
        if abs(float(np.median(outer_line)) - float(np.median(inner_line))) <= BORDER_STEP * span:
            continue
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask[where].astype(np.uint8),
                                                               connectivity=8)
        long = stats[:, along] >= min_length
        long[0] = False
        strips[where] |= long[labels]
    return strips
