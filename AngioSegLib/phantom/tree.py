"""Coronary-like vessel trees for the phantom: smooth branches, tapering radii, planted stenoses.

A tree is built from a template in field-of-view units (row, column in [0, 1]), jittered and rotated
by the seed, fitted with cubic splines and resampled every pixel. Radii are in mm and taper
linearly along each branch; a stenosis multiplies the reference radius by a raised-cosine
narrowing::

    r(s) = r_ref(s) · (1 − p · ½ (1 + cos(2π (s − c) / L)))   for |s − c| < L / 2

with p the percent diameter stenosis / 100, c its centre and L its length (mm), so the minimal
lumen diameter is MLD = (1 − p) · RVD with RVD = 2 r_ref(c).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from AngioSegLib.errors import InputError

__all__ = [
    "CATHETER_RADIUS_MM",
    "PlantedStenosis",
    "StenosisSpec",
    "TreeSegment",
    "VesselCenterline",
    "build_catheter",
    "build_tree",
    "default_stenoses",
    "segment_names",
]

CATHETER_RADIUS_MM = 1.0  # 6 F catheter: 2 mm outer diameter

# (name, parent, fraction along the parent where it branches, control points (row, col) in
# field units, proximal radius mm, distal radius mm). The root's first control point is the ostium.
_Template = tuple[tuple[str, str | None, float, tuple[tuple[float, float], ...], float, float], ...]

_LEFT: _Template = (
    ("LM", None, 0.0, ((0.20, 0.27), (0.25, 0.34), (0.29, 0.40)), 2.0, 1.9),
    ("LAD", "LM", 1.0, ((0.38, 0.49), (0.55, 0.59), (0.72, 0.69), (0.90, 0.78)), 1.75, 0.55),
    ("LCx", "LM", 1.0, ((0.38, 0.36), (0.52, 0.30), (0.68, 0.28), (0.84, 0.31)), 1.6, 0.55),
    ("D1", "LAD", 0.22, ((0.44, 0.68), (0.53, 0.80), (0.62, 0.89)), 1.1, 0.5),
    ("D2", "LAD", 0.58, ((0.66, 0.79), (0.76, 0.90)), 0.9, 0.5),
    ("OM1", "LCx", 0.33, ((0.55, 0.39), (0.67, 0.44), (0.79, 0.47)), 1.1, 0.5),
    ("OM2", "LCx", 0.68, ((0.74, 0.36), (0.86, 0.39)), 0.9, 0.5),
)
_LEFT_CATHETER = ((1.08, 0.16), (0.70, 0.13), (0.36, 0.14), (0.20, 0.19), (0.20, 0.27))

_RIGHT: _Template = (
    (
        "RCA",
        None,
        0.0,
        (
            (0.20, 0.58),
            (0.20, 0.44),
            (0.29, 0.30),
            (0.45, 0.22),
            (0.63, 0.24),
            (0.77, 0.33),
            (0.82, 0.46),
        ),
        2.0,
        1.0,
    ),
    ("CB", "RCA", 0.04, ((0.13, 0.47), (0.09, 0.38)), 0.7, 0.5),
    ("RV", "RCA", 0.33, ((0.44, 0.33), (0.52, 0.42), (0.57, 0.51)), 0.9, 0.5),
    ("AM", "RCA", 0.62, ((0.64, 0.35), (0.67, 0.46)), 0.8, 0.5),
    ("PDA", "RCA", 1.0, ((0.87, 0.56), (0.93, 0.67)), 1.0, 0.5),
    ("PLV", "RCA", 0.96, ((0.75, 0.55), (0.76, 0.66)), 0.9, 0.5),
)
_RIGHT_CATHETER = ((1.08, 0.66), (0.70, 0.66), (0.36, 0.65), (0.22, 0.62), (0.20, 0.58))

_TEMPLATES = {"left": (_LEFT, _LEFT_CATHETER), "right": (_RIGHT, _RIGHT_CATHETER)}
_SIDE_BRANCH_PARENTS = {"left": ("LAD", "LCx", "D1"), "right": ("RCA", "RCA", "RV")}


@dataclass(frozen=True)
class StenosisSpec:
    """A stenosis to plant: ``percent_diameter`` (0–95 %) over ``length_mm``, centred at
    ``position`` (fraction 0–1 of the segment's length) of the named ``segment``."""

    segment: str
    percent_diameter: float
    length_mm: float = 5.0
    position: float = 0.4


@dataclass(frozen=True)
class PlantedStenosis:
    """A stenosis as planted: centre ``position_mm`` from the segment start (frame-0 arc length),
    reference diameter ``reference_diameter_mm`` and minimal lumen diameter ``mld_mm``."""

    segment: str
    percent_diameter: float
    length_mm: float
    position_mm: float
    reference_diameter_mm: float
    mld_mm: float


@dataclass(frozen=True, eq=False)
class VesselCenterline:
    """One branch in one frame: points (N, 2) as (row, col) in pixels, radius (N,) in mm,
    arc length from the branch start in frame 0 (N,) in mm, and the parent branch."""

    name: str
    points_rc: np.ndarray
    radius_mm: np.ndarray
    arc_length_mm: np.ndarray
    parent: str | None = None


@dataclass(frozen=True, eq=False)
class TreeSegment:
    """A branch in frame-0 geometry: points (N, 2) in mm, radius (N,) mm, and the distance from
    the ostium along the tree (N,) mm (the path the contrast travels)."""

    name: str
    parent: str | None
    points_mm: np.ndarray
    radius_mm: np.ndarray
    arc_length_mm: np.ndarray
    path_mm: np.ndarray


def segment_names(tree: str) -> tuple[str, ...]:
    """The branch names of the ``"left"`` or ``"right"`` template."""
    return tuple(row[0] for row in _template(tree)[0])


def default_stenoses(tree: str) -> tuple[StenosisSpec, ...]:
    """Two planted lesions: 50 % and 70 % diameter, 5 mm long, on the main branches."""
    if tree == "left":
        return (StenosisSpec("LAD", 50.0, 5.0, 0.40), StenosisSpec("LCx", 70.0, 5.0, 0.45))
    _template(tree)
    return (StenosisSpec("RCA", 50.0, 5.0, 0.20), StenosisSpec("RCA", 70.0, 5.0, 0.48))


def _template(tree: str):
    if tree not in _TEMPLATES:
        raise InputError(f"tree must be 'left' or 'right', found {tree!r}")
    return _TEMPLATES[tree]


def _jitter(points, rng: np.random.Generator, angle_rad: float, scale: float) -> np.ndarray:
    """Template points (field units) jittered, rotated by ``angle_rad`` and scaled about the
    field centre."""
    pts = np.asarray(points, dtype=float) + rng.normal(0.0, 0.012, size=(len(points), 2))
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    rot = np.array([[c, -s], [s, c]])
    return 0.5 + scale * (pts - 0.5) @ rot.T


def _resample(curve: np.ndarray, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A dense polyline resampled every ``spacing_mm`` of arc length: (points, arc)."""
    fine_arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))]
    n = max(int(np.ceil(fine_arc[-1] / spacing_mm)) + 1, 2)
    arc = np.linspace(0.0, fine_arc[-1], n)
    points = np.stack([np.interp(arc, fine_arc, curve[:, k]) for k in range(2)], axis=1)
    return points, arc


def _smooth_curve(
    control_mm: np.ndarray,
    spacing_mm: float,
    wiggle: tuple[float, float, float] = (0.0, 1.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """A C2 spline through the control points, made tortuous by a sideways sine ``wiggle``
    (amplitude mm, wavelength mm, phase; zero at the start), resampled every ``spacing_mm``."""
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(control_mm, axis=0), axis=1))]
    u = np.linspace(0.0, chord[-1], 320 * len(control_mm))
    if len(control_mm) >= 3:
        curve = CubicSpline(chord, control_mm, bc_type="natural")(u)
    else:
        curve = control_mm[0] + np.outer(u / chord[-1], control_mm[-1] - control_mm[0])
    amplitude, wavelength, phase = wiggle
    if amplitude > 0:
        points, arc = _resample(curve, spacing_mm / 4)
        tangent = np.gradient(points, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        offset = amplitude * (np.sin(2 * np.pi * arc / wavelength + phase) - np.sin(phase))
        curve = points + offset[:, None] * normal
    return _resample(curve, spacing_mm)


def _narrowing(arc_mm: np.ndarray, centre_mm: float, length_mm: float, fraction: float):
    """Raised-cosine factor (1 at the ends, 1 − fraction at the centre)."""
    x = np.clip((arc_mm - centre_mm) / length_mm, -0.5, 0.5)
    return 1.0 - fraction * 0.5 * (1.0 + np.cos(2.0 * np.pi * x))


def _check_stenoses(tree: str, specs: tuple[StenosisSpec, ...]) -> None:
    names = segment_names(tree)
    for spec in specs:
        if spec.segment not in names:
            close = difflib.get_close_matches(spec.segment, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"stenosis segment {spec.segment!r} is not in the {tree} tree "
                f"(branches: {', '.join(names)}){hint}"
            )
        if not 0.0 < spec.percent_diameter <= 95.0:
            raise InputError(
                f"stenosis percent diameter must be in (0, 95], found {spec.percent_diameter}"
            )
        if not spec.length_mm > 0 or not 0.0 <= spec.position <= 1.0:
            raise InputError(
                "stenosis length must be > 0 mm and position within 0–1 of the segment, found "
                f"{spec.length_mm} mm at {spec.position}"
            )


def _place_lesions(
    name: str, specs: list[StenosisSpec], length_mm: float
) -> list[tuple[StenosisSpec, float, float]]:
    """(spec, length mm, centre mm) per lesion on a branch of ``length_mm``: lengths capped at
    40 % of the branch, centres kept inside it; overlapping lesions are refused."""
    placed = []
    for spec in specs:
        lesion_mm = min(spec.length_mm, 0.4 * length_mm)
        centre = float(np.clip(spec.position * length_mm, lesion_mm / 2, length_mm - lesion_mm / 2))
        placed.append((spec, lesion_mm, centre))
    placed.sort(key=lambda item: item[2])
    for (_, len_a, c_a), (_, len_b, c_b) in zip(placed, placed[1:], strict=False):
        if c_b - c_a < (len_a + len_b) / 2:
            raise InputError(
                f"two stenoses on {name} overlap (centres {c_a:.1f} and {c_b:.1f} mm of "
                f"{length_mm:.1f} mm); move them apart"
            )
    return placed


def build_tree(
    tree: str,
    field_mm: float,
    spacing_mm: float,
    stenoses: tuple[StenosisSpec, ...],
    rng: np.random.Generator,
) -> tuple[tuple[TreeSegment, ...], tuple[PlantedStenosis, ...], float, float]:
    """The frame-0 tree in mm, its planted stenoses, and the (angle, scale) drawn for the layout.

    Stenosis length is capped at 40 % of its segment so the narrowing stays inside it.
    """
    template, _ = _template(tree)
    _check_stenoses(tree, stenoses)
    angle, scale = rng.uniform(-0.12, 0.12), rng.uniform(0.94, 1.04)
    segments: dict[str, TreeSegment] = {}
    planted: list[PlantedStenosis] = []
    for name, parent, fraction, controls, r0, r1 in template:
        control = _jitter(controls, rng, angle, scale) * field_mm
        start_path, r_start = 0.0, r0
        if parent is not None:
            up = segments[parent]
            if fraction < 1.0:  # side branches move a little along their parent
                fraction = float(np.clip(fraction + rng.uniform(-0.04, 0.04), 0.02, 0.98))
            k = int(np.argmin(np.abs(up.arc_length_mm - fraction * up.arc_length_mm[-1])))
            control = np.vstack([up.points_mm[k], control])
            start_path, r_start = up.path_mm[k], min(r0, 0.8 * up.radius_mm[k])
        wiggle = (
            rng.uniform(0.004, 0.01) * field_mm,
            rng.uniform(0.12, 0.25) * field_mm,
            rng.uniform(0.0, 2.0 * np.pi),
        )
        points, arc = _smooth_curve(control, spacing_mm, wiggle)
        lesions = _place_lesions(name, [s for s in stenoses if s.segment == name], arc[-1])
        if lesions:  # a sample exactly at each lesion centre, where the MLD is
            fine_arc = np.union1d(arc, [centre for _, _, centre in lesions])
            points = np.stack([np.interp(fine_arc, arc, points[:, k]) for k in range(2)], axis=1)
            arc = fine_arc
        reference = r_start + (min(r1, r_start) - r_start) * arc / arc[-1]
        radius = reference.copy()
        for spec, lesion_mm, centre in lesions:
            fraction = spec.percent_diameter / 100.0
            radius *= _narrowing(arc, centre, lesion_mm, fraction)
            ref_diameter = 2.0 * float(np.interp(centre, arc, reference))
            planted.append(
                PlantedStenosis(
                    segment=name,
                    percent_diameter=float(spec.percent_diameter),
                    length_mm=float(lesion_mm),
                    position_mm=centre,
                    reference_diameter_mm=ref_diameter,
                    mld_mm=ref_diameter * (1.0 - fraction),
                )
            )
        segments[name] = TreeSegment(name, parent, points, radius, arc, start_path + arc)
    parents = [segments[name] for name in _SIDE_BRANCH_PARENTS[tree]]
    twigs = _side_branches(parents, field_mm, spacing_mm, rng)
    return (*segments.values(), *twigs), tuple(planted), angle, scale


def _side_branches(
    parents: list[TreeSegment], field_mm: float, spacing_mm: float, rng: np.random.Generator
) -> list[TreeSegment]:
    """0–2 short unnamed side branches (septals, marginals; r ≤ 0.75 → 0.5 mm) on each main
    branch, leaving at 35–70° to either side; named ``<parent>-sb<k>``."""
    twigs: list[TreeSegment] = []
    for parent in parents:
        for _ in range(int(rng.integers(0, 3))):
            i = int(
                rng.integers(len(parent.arc_length_mm) // 5, 4 * len(parent.arc_length_mm) // 5)
            )
            tangent = (
                parent.points_mm[min(i + 1, len(parent.points_mm) - 1)] - parent.points_mm[i - 1]
            )
            angle = rng.choice([-1.0, 1.0]) * np.deg2rad(rng.uniform(35.0, 70.0))
            c, s = np.cos(angle), np.sin(angle)
            direction = np.array([[c, -s], [s, c]]) @ (tangent / np.linalg.norm(tangent))
            length = rng.uniform(0.07, 0.16) * field_mm
            bend = rng.normal(0.0, 0.1) * length * np.array([-direction[1], direction[0]])
            start = parent.points_mm[i]
            control = np.stack(
                [start, start + 0.5 * length * direction + bend, start + length * direction]
            )
            points, arc = _smooth_curve(control, spacing_mm)
            r_start = min(0.75, 0.8 * float(parent.radius_mm[i]))
            radius = r_start + (min(0.5, r_start) - r_start) * arc / arc[-1]
            path = parent.path_mm[i] + arc
            number = 1 + sum(t.parent == parent.name for t in twigs)
            name = f"{parent.name}-sb{number}"
            twigs.append(TreeSegment(name, parent.name, points, radius, arc, path))
    return twigs


def build_catheter(
    tree: str,
    field_mm: float,
    spacing_mm: float,
    ostium_mm: np.ndarray,
    angle: float,
    scale: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The catheter's axis (N, 2) in mm, from outside the field to the ostium."""
    _, controls = _template(tree)
    control = _jitter(controls, rng, angle, scale) * field_mm
    control[-1] = ostium_mm
    points, _ = _smooth_curve(control, spacing_mm)
    return points
