"""Collimation rendered onto a frame: shutter blades, round and octagonal fields, soft (graded)
shutter edges, wedge filters and image-border strips, with the irradiated field they leave.

Real angiograms are collimated in many ways, and a vessel network that never saw them takes every
field edge for a vessel wall. Training draws one random :class:`Collimation` per sample
(:func:`random_collimation`) and renders it with :func:`collimate`; the vessel label is cleared
outside the field and along its edge, so the network learns that no vessel lies there. Tests use
the same renderer to check :func:`~AngioSegLib.segment.field_of_view.field_of_view` and the model.

A frame is blended towards a ``level`` (a fraction of the frame's grey range: 0 black, as lead
blades leave it, up to 1 for a bright, display-inverted or burnt-in border) by an opacity that
rises from 0 inside the field to 1 outside over ``softness_px`` (0 = a sharp edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FIELD_KINDS = ("none", "blades", "round", "octagon", "border")
EDGE_LABEL_KEEP = 0.8  # a vessel label survives where the field lets ≥ 80 % of the image through


@dataclass(frozen=True)
class Collimation:
    """One collimation of a frame. Fractions of the frame size unless named in px.

    ``blades``: how far each shutter blade reaches in from the top, bottom, left and right edge;
    ``angle_deg`` tilts all blades about the centre; ``radius`` of a round or octagonal field
    (of the shorter side, centred at ``centre`` in fractions of (rows, cols)); ``border_px`` the
    width of a strip at all four image edges (``kind`` "border"); ``level`` the grey the blades
    leave (fraction of the grey range), ``noise`` its relative noise; ``wedge``: optional
    (angle_deg, offset, transmission) of a wedge filter inside the field.
    """

    kind: str = "none"
    blades: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    angle_deg: float = 0.0
    radius: float = 0.5
    centre: tuple[float, float] = (0.5, 0.5)
    border_px: int = 0
    softness_px: float = 0.0
    level: float = 0.0
    noise: float = 0.0
    wedge: tuple[float, float, float] | None = None


def _ramp(signed_distance_px: np.ndarray, softness_px: float) -> np.ndarray:
    """Opacity of the collimator, 0 inside (distance < 0) to 1 outside, over ``softness_px``."""
    if softness_px <= 0:
        return (signed_distance_px > 0).astype(np.float32)
    return np.clip(0.5 + signed_distance_px / softness_px, 0.0, 1.0).astype(np.float32)


def _rotated_coordinates(shape: tuple[int, int], angle_deg: float, centre_rc: tuple[float, float]):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    a = np.deg2rad(angle_deg)
    dr, dc = rows - centre_rc[0], cols - centre_rc[1]
    return (np.cos(a) * dr - np.sin(a) * dc + centre_rc[0],
            np.sin(a) * dr + np.cos(a) * dc + centre_rc[1])


def blocked_fraction(shape: tuple[int, int], collimation: Collimation) -> np.ndarray:
    """(H, W) float32 collimator opacity: 0 in the irradiated field, 1 behind the blades."""
    rows, cols = shape
    c = collimation
    if c.kind == "none":
        return np.zeros(shape, np.float32)
    if c.kind == "border":
        r, q = np.mgrid[0:rows, 0:cols]
        edge = np.minimum(np.minimum(r, rows - 1 - r), np.minimum(q, cols - 1 - q))
        return _ramp(c.border_px - 0.5 - edge.astype(np.float32), c.softness_px)
    centre = (c.centre[0] * rows, c.centre[1] * cols)
    r, q = _rotated_coordinates(shape, c.angle_deg, centre)
    if c.kind == "blades":
        reach = [f * n for f, n in zip(c.blades, (rows, rows, cols, cols), strict=True)]
        beyond = (reach[0] - r, r - (rows - reach[1]), reach[2] - q, q - (cols - reach[3]))
        edges = [d for d, f in zip(beyond, c.blades, strict=True) if f > 0]
        if not edges:
            return np.zeros(shape, np.float32)
        return _ramp(np.maximum.reduce(edges), c.softness_px)
    radius = c.radius * min(rows, cols)
    dr, dc = r - centre[0], q - centre[1]
    if c.kind == "round":
        distance = np.hypot(dr, dc) - radius
    else:  # octagon: the largest of the projections on 8 directions
        angles = np.deg2rad(np.arange(0, 180, 45))
        projections = [np.abs(np.cos(a) * dr + np.sin(a) * dc) for a in angles]
        distance = np.max(projections, axis=0) - radius
    return _ramp(distance, c.softness_px)


def _wedge_transmission(shape: tuple[int, int], wedge: tuple[float, float, float]) -> np.ndarray:
    """(H, W) factor on the frame's contrast behind a wedge filter with a soft edge."""
    angle_deg, offset, transmission = wedge
    a = np.deg2rad(angle_deg)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    across = np.cos(a) * (rows / shape[0] - 0.5) + np.sin(a) * (cols / shape[1] - 0.5) - offset
    inside = np.clip(0.5 + across * max(shape) / 24.0, 0.0, 1.0)
    return 1.0 - (1.0 - transmission) * inside


def collimate(frame: np.ndarray, label: np.ndarray | None, collimation: Collimation,
              rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray | None,
                                                            np.ndarray]:
    """(frame, label, field) with ``collimation`` rendered on a raw frame (H, W), vessels dark.

    The frame's grey range (darkest pixel to 99th percentile) sets the blade ``level``; the
    label (H, W) is cleared where less than :data:`EDGE_LABEL_KEEP` of the image comes through;
    ``field`` (H, W) bool is where the collimator blocks less than half (opacity < 0.5).
    """
    image = np.asarray(frame, np.float32)
    blocked = blocked_fraction(image.shape, collimation)
    low, high = float(image.min()), float(np.percentile(image, 99.0))
    span = max(high - low, 1.0)
    if collimation.wedge is not None:
        factor = _wedge_transmission(image.shape, collimation.wedge)
        image = high - (high - image) * factor  # a wedge filter thins contrast, not the vessels
    level = np.full(image.shape, low + collimation.level * span, np.float32)
    if collimation.noise > 0 and rng is not None:
        level += cv2.GaussianBlur(rng.normal(0.0, collimation.noise * span, image.shape)
                                  .astype(np.float32), (0, 0), 1.0)
    out = image * (1.0 - blocked) + level * blocked
    if np.issubdtype(np.asarray(frame).dtype, np.integer):
        info = np.iinfo(np.asarray(frame).dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(np.asarray(frame).dtype)
    new_label = None
    if label is not None:
        new_label = np.where(blocked <= 1.0 - EDGE_LABEL_KEEP, label, 0).astype(label.dtype)
    return out, new_label, blocked < 0.5


def random_collimation(rng: np.random.Generator) -> Collimation:
    """A collimation drawn over the kinds seen in clinical runs (see :data:`FIELD_KINDS`)."""
    kind = str(rng.choice(FIELD_KINDS[1:], p=(0.45, 0.2, 0.15, 0.2)))
    softness = float(rng.choice([0.0, rng.uniform(1.0, 6.0), rng.uniform(8.0, 60.0)],
                                p=(0.35, 0.35, 0.3)))
    level = float(rng.choice([rng.uniform(0.0, 0.08), rng.uniform(0.2, 0.7),
                              rng.uniform(0.9, 1.3)], p=(0.5, 0.3, 0.2)))
    blades = tuple(float(rng.uniform(0.02, 0.25)) if rng.random() < 0.6 else 0.0
                   for _ in range(4))
    if kind == "blades" and not any(blades):
        blades = (float(rng.uniform(0.05, 0.25)), 0.0, 0.0, 0.0)
    wedge = None
    if rng.random() < 0.2:
        wedge = (float(rng.uniform(0, 360)), float(rng.uniform(-0.3, 0.3)),
                 float(rng.uniform(0.4, 0.8)))
    return Collimation(
        kind=kind, blades=blades, angle_deg=float(rng.uniform(-12, 12)),
        radius=float(rng.uniform(0.42, 0.62)),
        centre=(float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.45, 0.55))),
        border_px=int(rng.integers(2, 16)), softness_px=softness, level=level,
        noise=float(rng.choice([0.0, rng.uniform(0.005, 0.03)])), wedge=wedge,
    )
