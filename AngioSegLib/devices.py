"""Guidewires and leads drawn onto a frame: thin, uniformly radiopaque curves, not vessels.

A 0.014" coronary guidewire, a pacing lead or an ECG wire is a long, thin, sharply bounded dark
curve of constant density; a vessel network that never saw one takes it for a small artery.
Training draws them at random (:func:`random_wire`) and renders them with :func:`add_wire`; the
vessel label is left as it is (a wire in a vessel does not make the lumen background, and a wire
beside one is background already), so the network learns that such a curve alone is no vessel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from AngioSegLib.phantom_render import render_tubes


@dataclass(frozen=True)
class Wire:
    """A wire: control points (K, 2) in fractions of (rows, cols), radius (px) and the fraction
    of the frame's grey range it darkens by (0–1; metal is near 1)."""

    points: np.ndarray
    radius_px: float
    darkening: float


def random_wire(rng: np.random.Generator) -> Wire:
    """A gently curved wire that crosses much of the frame, 0.6–1.5 px in radius."""
    start = rng.uniform(0.0, 1.0, 2)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-9
    length = rng.uniform(0.4, 1.2)
    steps = np.linspace(0.0, length, 5)[:, None]
    bend = rng.normal(0.0, 0.08, (5, 2)).cumsum(axis=0)
    points = start + steps * direction + bend
    return Wire(points, float(rng.uniform(0.6, 1.5)), float(rng.uniform(0.25, 0.7)))


def add_wire(frame: np.ndarray, wire: Wire) -> tuple[np.ndarray, np.ndarray]:
    """(frame, wire mask): ``frame`` (H, W, vessels dark) with ``wire`` drawn darker by
    ``darkening`` × the grey range (darkest pixel to 99th percentile), anti-aliased by its chord,
    in the frame's dtype; the mask (H, W) bool where the wire covers half a pixel or more."""
    image = np.asarray(frame, np.float32)
    rows, cols = image.shape
    knots = np.asarray(wire.points) * (rows, cols)
    spline = CubicSpline(np.linspace(0.0, 1.0, len(knots)), knots, axis=0)
    samples = max(16, int(np.linalg.norm(np.diff(knots, axis=0), axis=1).sum() / 2))
    axis = spline(np.linspace(0.0, 1.0, samples))
    radius = np.full(len(axis), wire.radius_px)
    chord, _ = render_tubes(image.shape, [(axis, radius, np.ones(len(axis)))])
    span = float(np.percentile(image, 99.0) - image.min())
    cover = np.clip(chord / (2 * wire.radius_px), 0.0, 1.0)
    out = np.maximum(image - wire.darkening * span * cover, float(image.min()))
    if np.issubdtype(np.asarray(frame).dtype, np.integer):
        info = np.iinfo(np.asarray(frame).dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(np.asarray(frame).dtype)
    return out, cover >= 0.5
