"""Synthetic coronary angiography cine runs with exact ground truth.

:func:`make_phantom` draws a coronary-like tree (left: LM/LAD/LCx with diagonals and marginals;
right: RCA with its branches; plus 0–6 short side branches named ``<parent>-sb<k>``), plants
stenoses of known percent diameter and length, moves it with cardiac and respiratory motion, fills
it with contrast from the ostium and renders each frame as an X-ray projection (chord-length
attenuation, anatomy background, a 6 F catheter, detector blur and quantum noise). Everything is a
function of :class:`PhantomOptions`, the seed included.

Ground truth per frame: the vessel mask (pixel centres inside an opacified vessel, catheter
excluded; a vessel counts once the contrast front has reached it), the centerlines with radius in
mm (a sample lies exactly at each stenosis centre), the planted stenoses and the true displacement
of the heart relative to frame 0. The spine is static and the rest of the background moves with
respiration only; ``displacement`` describes the vessels (and catheter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from AngioSegLib.cine import Calibration, CalibrationSource, CineRun, ViewGeometry
from AngioSegLib.errors import InputError
from AngioSegLib.phantom.render import (
    MU_CATHETER_PER_MM,
    MU_CONTRAST_PER_MM,
    Motion,
    detect,
    draw_motion,
    make_background,
    render_tubes,
    shift_image,
)
from AngioSegLib.phantom.tree import (
    CATHETER_RADIUS_MM,
    PlantedStenosis,
    StenosisSpec,
    TreeSegment,
    VesselCenterline,
    build_catheter,
    build_tree,
    default_stenoses,
)
from AngioSegLib.progress import Progress, ProgressCallback, no_progress

__all__ = [
    "PhantomOptions",
    "PhantomRun",
    "PlantedStenosis",
    "StenosisSpec",
    "VesselCenterline",
    "make_phantom",
]

BITS_STORED = 12
_LINE_INTEGRAL_RANGE = (0.7, 4.2)  # mapped to pixel values 4095 … 0 (log display, vessels dark)
_FRONT_RAMP_MM = 4.0  # width of the contrast front


@dataclass(frozen=True)
class PhantomOptions:
    """What to simulate.

    ``mm_per_pixel`` None picks 0.2 mm at 512 px and coarser for smaller images
    (0.2·sqrt(512 / size)), so a small test phantom still shows the whole tree with vessels a few
    pixels wide; the tree always spans the field of view, radii are in mm whatever the scale.
    ``stenoses`` None plants two lesions (50 % and 70 % diameter, 5 mm) on the main branches.
    ``photons_per_pixel`` sets the quantum noise (unattenuated counts); ``blur_px`` the detector's
    Gaussian blur (σ, px).
    """

    seed: int = 0
    n_frames: int = 30
    size: int = 512
    fps: float = 15.0
    mm_per_pixel: float | None = None
    tree: str = "left"
    stenoses: tuple[StenosisSpec, ...] | None = None
    motion: bool = True
    contrast_inflow: bool = True
    noise: bool = True
    photons_per_pixel: float = 1500.0
    blur_px: float = 0.7
    catheter: bool = True
    background: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.n_frames <= 2000:
            raise InputError(f"n_frames must be between 1 and 2000, found {self.n_frames}")
        if not 32 <= self.size <= 4096:
            raise InputError(f"size must be between 32 and 4096 pixels, found {self.size}")
        if not 0.0 < self.fps <= 1000.0:
            raise InputError(f"fps must be between 0 and 1000 frames/s, found {self.fps}")
        if self.mm_per_pixel is not None and not 0.01 <= self.mm_per_pixel <= 5.0:
            raise InputError(
                f"mm_per_pixel must be between 0.01 and 5 mm, found {self.mm_per_pixel}"
            )
        if self.tree not in ("left", "right"):
            raise InputError(f"tree must be 'left' or 'right', found {self.tree!r}")
        if self.photons_per_pixel <= 0 or self.blur_px < 0:
            raise InputError(
                "photons_per_pixel must be > 0 and blur_px >= 0, found "
                f"{self.photons_per_pixel} and {self.blur_px}"
            )

    @property
    def pixel_mm(self) -> float:
        """The pixel size at the isocenter (mm), resolved from ``mm_per_pixel``."""
        if self.mm_per_pixel is not None:
            return float(self.mm_per_pixel)
        return 0.2 * math.sqrt(512.0 / self.size)

    @property
    def stenosis_specs(self) -> tuple[StenosisSpec, ...]:
        return default_stenoses(self.tree) if self.stenoses is None else tuple(self.stenoses)


@dataclass(frozen=True, eq=False)
class PhantomRun:
    """A simulated run and its truth.

    ``masks`` (T, H, W) uint8; ``centerlines[t]`` the branches in frame t; ``displacement``
    (T, H, W, 2) float32 (dy, dx) px: where the frame-0 point at each pixel is in frame t, minus
    that pixel (zero for frame 0); ``catheter[t]`` the catheter axis (N, 2) px in frame t, of
    diameter ``catheter_diameter_mm``.
    """

    cine: CineRun
    masks: np.ndarray
    centerlines: tuple[tuple[VesselCenterline, ...], ...]
    stenoses: tuple[PlantedStenosis, ...]
    displacement: np.ndarray
    catheter: tuple[np.ndarray, ...]
    catheter_diameter_mm: float
    options: PhantomOptions


def _contrast_front(options: PhantomOptions, max_path_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the front's distance from the ostium (mm) and the washout factor (0–1).

    The run starts just after injection (front at 20 % of the longest path), the tree fills by
    ``min(1 s, 40 % of the run)`` and washes out from 70 % of the run on, down to 40 %.
    """
    times = np.arange(options.n_frames) / options.fps
    if not options.contrast_inflow:
        return np.full(options.n_frames, np.inf), np.ones(options.n_frames)
    duration = options.n_frames / options.fps
    fill_s = min(1.0, 0.4 * duration)
    front = max_path_mm * (0.2 + 0.8 * times / fill_s) + _FRONT_RAMP_MM
    start = max(fill_s, 0.7 * duration)
    tau = 0.15 * duration
    washout = np.where(times > start, 1.0 - 0.6 * (1.0 - np.exp(-(times - start) / tau)), 1.0)
    return front, washout


def _moved(points_mm: np.ndarray, motion: Motion, t_s: float, pixel_mm: float) -> np.ndarray:
    return ((points_mm + motion.displacement_mm(points_mm, t_s)) / pixel_mm).astype(np.float32)


def _r_wave_frames(motion: Motion, options: PhantomOptions) -> tuple[int, ...]:
    duration = options.n_frames / options.fps
    beats = np.arange(0.0, duration, motion.cardiac_period_s)
    frames = sorted({int(round(b * options.fps)) for b in beats})
    return tuple(f for f in frames if f < options.n_frames)


def _render_frame(
    t_s: float,
    tree: tuple[TreeSegment, ...],
    catheter_mm: np.ndarray | None,
    motion: Motion,
    options: PhantomOptions,
    front_mm: float,
) -> tuple[tuple[VesselCenterline, ...], np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """(centerlines, catheter px, vessel chord px, opacity, catheter chord px) for one frame."""
    pixel_mm = options.pixel_mm
    shape = (options.size, options.size)
    centerlines, tubes = [], []
    for seg in tree:
        points = _moved(seg.points_mm, motion, t_s, pixel_mm)
        centerlines.append(
            VesselCenterline(seg.name, points, seg.radius_mm, seg.arc_length_mm, seg.parent)
        )
        opacity = np.clip(0.5 + (front_mm - seg.path_mm) / _FRONT_RAMP_MM, 0.0, 1.0)
        tubes.append((points, seg.radius_mm / pixel_mm, opacity))
    chord, opacity = render_tubes(shape, tubes)
    catheter_px, catheter_chord = None, np.zeros(shape, np.float32)
    if catheter_mm is not None:
        catheter_px = _moved(catheter_mm, motion, t_s, pixel_mm)
        radius = np.full(len(catheter_px), CATHETER_RADIUS_MM / pixel_mm)
        catheter_chord, _ = render_tubes(shape, [(catheter_px, radius, radius)])
    return tuple(centerlines), catheter_px, chord, opacity, catheter_chord


def _expose(
    line_integral: np.ndarray, options: PhantomOptions, rng: np.random.Generator
) -> np.ndarray:
    """Detected frame as 12-bit MONOCHROME2 pixels: −log of the counts, mapped so that
    :data:`_LINE_INTEGRAL_RANGE` spans 4095 … 0 (more attenuation is darker)."""
    photons = options.photons_per_pixel
    counts = detect(line_integral, options.blur_px, photons if options.noise else None, rng)
    measured = -np.log(np.maximum(counts, 0.5 / photons))
    lo, hi = _LINE_INTEGRAL_RANGE
    return np.clip(np.rint((hi - measured) / (hi - lo) * 4095.0), 0, 4095).astype(np.uint16)


def make_phantom(
    options: PhantomOptions | None = None, progress: ProgressCallback = no_progress
) -> PhantomRun:
    """Simulate one cine run and its ground truth (deterministic for a given ``options``).

    ``progress`` receives a ``"phantom"`` event after each frame.
    """
    options = options or PhantomOptions()
    rng = np.random.default_rng(options.seed)
    pixel_mm = options.pixel_mm
    field_mm = options.size * pixel_mm
    tree, planted, angle, scale = build_tree(
        options.tree, field_mm, pixel_mm, options.stenosis_specs, rng
    )
    catheter_mm = build_catheter(
        options.tree, field_mm, pixel_mm, tree[0].points_mm[0], angle, scale, rng
    )
    motion = draw_motion(field_mm, rng, options.motion)
    static_bg, breathing_bg = make_background(options.size, rng)
    if not options.background:
        static_bg, breathing_bg = np.zeros_like(static_bg), np.full_like(breathing_bg, 1.2)
    noise_rng = np.random.default_rng([options.seed, 1])
    front, washout = _contrast_front(options, max(float(s.path_mm[-1]) for s in tree))

    size, n = options.size, options.n_frames
    grid_mm = np.stack(np.mgrid[0:size, 0:size], axis=-1).astype(np.float32) * pixel_mm
    frames = np.empty((n, size, size), np.uint16)
    masks = np.empty((n, size, size), np.uint8)
    displacement = np.empty((n, size, size, 2), np.float32)
    grid_field = motion.cardiac_field_mm(grid_mm).astype(np.float32)
    centerlines, catheters = [], []
    for i in range(n):
        t_s = i / options.fps
        lines, catheter_px, chord, opacity, catheter_chord = _render_frame(
            t_s, tree, catheter_mm if options.catheter else None, motion, options, front[i]
        )
        centerlines.append(lines)
        if catheter_px is not None:
            catheters.append(catheter_px)
        masks[i] = (chord > 0) & (opacity >= 0.5)
        displacement[i] = motion.displacement_mm(grid_mm, t_s, grid_field) / pixel_mm
        _, respiratory = motion.phases(t_s)
        background = static_bg + shift_image(
            breathing_bg, respiratory * motion.respiration_mm / pixel_mm
        )
        line_integral = (
            background
            + MU_CONTRAST_PER_MM * pixel_mm * washout[i] * chord * opacity
            + MU_CATHETER_PER_MM * pixel_mm * catheter_chord
        )
        frames[i] = _expose(line_integral, options, noise_rng)
        progress(Progress("phantom", i + 1, n, f"frame {i + 1} of {n}"))
    displacement[0] = 0.0
    primary, secondary = (30.0, 20.0) if options.tree == "left" else (30.0, 0.0)
    cine = CineRun(
        frames=frames,
        frame_times_s=np.arange(n) / options.fps,
        calibration=Calibration(pixel_mm, CalibrationSource.SYNTHETIC),
        view=ViewGeometry(primary, secondary, 1000.0, 750.0),
        r_wave_frames=_r_wave_frames(motion, options),
        bits_stored=BITS_STORED,
        name=f"phantom-{options.tree}-seed{options.seed}",
        pixel_intensity_relationship="LOG",  # −log(counts), mapped linearly (see _expose)
    )
    return PhantomRun(
        cine=cine,
        masks=masks,
        centerlines=tuple(centerlines),
        stenoses=planted,
        displacement=displacement,
        catheter=tuple(catheters),
        catheter_diameter_mm=2.0 * CATHETER_RADIUS_MM,
        options=options,
    )
