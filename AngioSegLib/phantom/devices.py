"""Guidewires, leads and catheters drawn onto a frame: radiopaque tubes that are not vessels.

A 0.014" coronary guidewire, a pacing lead or an ECG wire is a long, thin, sharply bounded dark
curve of constant density; a diagnostic or guiding catheter (5–8 F, 1.7–2.7 mm) is a wide tube of
constant width that enters from the frame's edge, nearly straight or in one wide bend, dark all
across when filled with contrast or with two dark walls when empty. A vessel network that never
saw them takes the wire for a small artery and the catheter for a proximal one. Training draws
them at random (:func:`random_wire`, :func:`random_catheter`) and renders them with
:func:`add_wire`; the vessel label is left as it is (a device in a vessel does not make the lumen
background, and one beside a vessel is background already), so the network learns that such a
tube alone is no vessel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from AngioSegLib.phantom.render import render_tubes


@dataclass(frozen=True)
class Wire:
    """A wire or catheter: control points (K, 2) in fractions of (rows, cols), outer radius (px),
    the fraction of the frame's grey range it darkens by at most (0–1; metal is near 1), and the
    radius of its empty lumen as a fraction of ``radius_px`` (0: solid or contrast-filled)."""

    points: np.ndarray
    radius_px: float
    darkening: float
    lumen_fraction: float = 0.0


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


def random_catheter(rng: np.random.Generator) -> Wire:
    """A catheter entering at (or just off) a random frame edge, 2–5 px in radius (5–8 F at
    0.17–0.45 mm/px), straight or in one wide bend; contrast-filled (60 %) or empty, with walls
    20–50 % of its radius thick."""
    side = int(rng.integers(4))
    along = rng.uniform(0.1, 0.9)
    start = np.array([(0.0, along), (1.0, along), (along, 0.0), (along, 1.0)][side])
    inward = np.array([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)][side])
    direction = inward + rng.normal(0.0, 0.5, 2)
    direction /= np.linalg.norm(direction) + 1e-9
    steps = np.linspace(0.0, rng.uniform(0.5, 1.3), 5)[:, None]
    bend = rng.normal(0.0, 0.04, (5, 2)).cumsum(axis=0)
    lumen = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.5, 0.8))
    return Wire(start + steps * direction + bend, float(rng.uniform(2.0, 5.0)),
                float(rng.uniform(0.15, 0.55)), lumen)


def add_wire(frame: np.ndarray, wire: Wire) -> tuple[np.ndarray, np.ndarray]:
    """(frame, wire mask): ``frame`` (H, W, vessels dark) with ``wire`` drawn darker by
    ``darkening`` × the grey range (darkest pixel to 99th percentile), anti-aliased by its chord,
    in the frame's dtype (an empty catheter darkens by its walls' chord only); the mask (H, W)
    bool where the device's outer tube covers half a pixel or more."""
    image = np.asarray(frame, np.float32)
    rows, cols = image.shape
    knots = np.asarray(wire.points) * (rows, cols)
    spline = CubicSpline(np.linspace(0.0, 1.0, len(knots)), knots, axis=0)
    samples = max(16, int(np.linalg.norm(np.diff(knots, axis=0), axis=1).sum() / 2))
    axis = spline(np.linspace(0.0, 1.0, samples))
    chord = _chord(image.shape, axis, wire.radius_px)
    cover = np.clip(chord / (2 * wire.radius_px), 0.0, 1.0)
    material = cover
    if wire.lumen_fraction > 0:
        lumen = _chord(image.shape, axis, wire.lumen_fraction * wire.radius_px)
        material = np.clip((chord - lumen) / (2 * wire.radius_px), 0.0, 1.0)
    span = float(np.percentile(image, 99.0) - image.min())
    out = np.maximum(image - wire.darkening * span * material, float(image.min()))
    if np.issubdtype(np.asarray(frame).dtype, np.integer):
        info = np.iinfo(np.asarray(frame).dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(np.asarray(frame).dtype)
    return out, cover >= 0.5


def _chord(shape: tuple[int, int], axis: np.ndarray, radius_px: float) -> np.ndarray:
    """Chord length (px, H × W) of a tube of constant ``radius_px`` along ``axis`` (N, 2)."""
    chord, _ = render_tubes(shape, [(axis, np.full(len(axis), radius_px), np.ones(len(axis)))])
    return chord
