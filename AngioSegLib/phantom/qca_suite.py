"""A second QCA phantom set, with physics that differ from :mod:`.generator`, for the QCA benchmark.

Each case is one frame with one analysed vessel and one planted lesion of known size, drawn by
:func:`draw_case` from a seed and rendered by :func:`render_case`. What differs from the
project's phantom (:mod:`.generator`, circular lumens, log display, 12 bits, one blur):

* **lumen model**: an elliptical cross-section whose depth/width aspect changes through the
  lesion (``lesion_aspect``; 1 in healthy vessel), so a lesion's projected width and its iodine
  content disagree as they do in real plaques; concentric, eccentric (one wall straight) and
  plateau (long, flat) lesions, and total occlusions (a plateau without lumen);
* **image formation**: supersampled (3 × 3) projection, a Gaussian blur of σ 0.4–1.2 px,
  *scatter* (a fraction 0.05–0.25 of the primary intensity spread over ``SCATTER_SIGMA_PX``,
  which lowers contrast non-linearly in the log), quantum noise and a smooth background with a
  rib-like edge;
* **file types**: ``LOG`` (log display, 8–12 bits, windowed), ``LIN`` (values proportional to
  intensity) or untagged display-processed (gamma and unsharp masking; Pixel Intensity
  Relationship unknown);
* **pixel size** 0.15–0.3 mm, reference 1.5–4.5 mm, straight to tortuous vessels, a crossing
  vessel in about half the cases (never on the lesion) and a parallel second vessel nearby.

The "segmentation" is what the shipped network does to such vessels: the true lumen widened by
``NETWORK_WIDENING_MM`` (the measured bias of cenet-light 0.3.0) and lost where the true lumen is
narrower than ``NETWORK_BREAK_MM`` (it breaks at tight lesions), blurred into a probability.
Coordinates (row, col) px; lengths mm unless named ``_px``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import interpolate, ndimage
from scipy.spatial import cKDTree

__all__ = ["QcaCase", "QcaCaseOptions", "draw_case", "render_case"]

MU_PER_MM = 0.2  # attenuation of the iodinated lumen (differs from phantom_render's 0.25)
SCATTER_SIGMA_PX = 30.0
NETWORK_WIDENING_MM = 0.2  # total (0.1 mm each side), as measured on the shipped network
NETWORK_BREAK_MM = 0.5  # the network loses lumens narrower than this
NETWORK_BLUR_PX = 0.7  # its probability's softness
SUPERSAMPLE = 3
LESION_SHAPES = ("concentric", "eccentric", "plateau")
FILE_TYPES = ("LOG", "LIN", "DISP")


@dataclass(frozen=True)
class QcaCaseOptions:
    """One case. Lengths in mm; ``percent`` the planted %DS (100: total occlusion)."""

    seed: int
    size: int = 256
    mm_per_pixel: float = 0.2
    reference_mm: float = 3.0
    percent: float = 60.0
    lesion_mm: float = 6.0
    shape: str = "concentric"
    lesion_aspect: float = 1.0
    tortuosity: float = 0.3  # 0 straight … 1 tortuous
    blur_px: float = 0.7
    scatter: float = 0.1
    photons: float = 2000.0
    file_type: str = "LOG"
    bits: int = 12
    crossing: bool = False
    second_vessel: bool = False


@dataclass(frozen=True, eq=False)
class QcaCase:
    """A rendered case: ``frame`` (H, W) stored values, its ``pixel_intensity_relationship``,
    the simulated network's ``probability`` and ``mask``, the true lumen ``true_mask``, and the
    truth: lesion centre (row, col), MLD, RVD, %DS, length narrower than 80 % of the reference
    (mm), ``crossing_rc`` where another vessel crosses (None without one)."""

    options: QcaCaseOptions
    frame: np.ndarray
    pixel_intensity_relationship: str | None
    probability: np.ndarray
    mask: np.ndarray
    true_mask: np.ndarray
    lesion_rc: tuple[float, float]
    mld_mm: float
    rvd_mm: float
    percent_diameter: float
    lesion_length_mm: float
    crossing_rc: tuple[float, float] | None


def draw_case(seed: int, size: int = 256) -> QcaCaseOptions:
    """A case drawn from the variety above (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, 15])
    kind = rng.random()
    percent = 100.0 if kind < 0.08 else 90.0 if kind < 0.2 else float(rng.uniform(30, 85))
    shape = "plateau" if percent >= 100 else str(rng.choice(LESION_SHAPES))
    return QcaCaseOptions(
        seed=seed, size=size, mm_per_pixel=float(rng.uniform(0.15, 0.3)),
        reference_mm=float(rng.uniform(1.5, 4.5)), percent=percent,
        lesion_mm=float(rng.uniform(3.0, 8.0)), shape=shape,
        lesion_aspect=float(rng.uniform(0.7, 1.3)), tortuosity=float(rng.uniform(0.0, 1.0)),
        blur_px=float(rng.uniform(0.4, 1.2)), scatter=float(rng.uniform(0.05, 0.25)),
        photons=float(rng.uniform(1000, 4000)), file_type=str(rng.choice(FILE_TYPES)),
        bits=int(rng.choice([8, 10, 12])), crossing=bool(rng.random() < 0.5),
        second_vessel=bool(rng.random() < 0.3),
    )


def _path(rng, size: int, tortuosity: float) -> np.ndarray:
    """(N, 2) dense (0.1 px) centerline from near one side of the frame to the other."""
    n = 6
    cols = np.linspace(0.06 * size, 0.94 * size, n)
    rows = 0.5 * size + rng.uniform(-0.12, 0.12) * size \
        + tortuosity * rng.uniform(-0.18, 0.18, n) * size
    spline = interpolate.CubicSpline(cols, rows)
    fine_c = np.linspace(cols[0], cols[-1], 20 * size)
    points = np.stack([spline(fine_c), fine_c], 1)
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    even = np.arange(0.0, arc[-1], 0.1)
    return np.stack([np.interp(even, arc, points[:, k]) for k in (0, 1)], 1)


def _fraction(s_mm: np.ndarray, centre_mm: float, options: QcaCaseOptions) -> np.ndarray:
    """(N,) narrowing fraction f (diameter = (1 − f) · reference) along the vessel."""
    p = min(options.percent / 100.0, 1.0)
    x = np.abs((s_mm - centre_mm) / options.lesion_mm)
    if options.shape == "plateau":
        ramp = np.clip((x - 0.25) / 0.25, 0.0, 1.0)
        return p * 0.5 * (1.0 + np.cos(np.pi * ramp)) * (x <= 0.5)
    return p * 0.5 * (1.0 + np.cos(2.0 * np.pi * np.clip(x, 0.0, 0.5)))


def _normals(points: np.ndarray) -> np.ndarray:
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    return np.stack([-tangent[:, 1], tangent[:, 0]], 1)


def _chord(shape, tubes, supersample: int, widen_px: float = 0.0) -> np.ndarray:
    """Mean projected chord (px) over each pixel of ``tubes``, summed where they overlap (two
    vessels in one projection add). A tube is (axis (N, 2), radius (N,) px, aspect (N,), shift
    (N,) px): at axis point ``i`` the lumen is an ellipse of half-width ``radius`` (+
    ``widen_px``) centred ``shift`` along the normal, its depth ``aspect`` × its width; a
    pixel is referred to its nearest axis point (chord ``2·aspect·sqrt(r² − d²)``)."""
    h, w = shape
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    rr = (np.arange(h)[:, None] + sub).ravel()
    cc = (np.arange(w)[:, None] + sub).ravel()
    grid = np.stack(np.meshgrid(rr, cc, indexing="ij"), -1).reshape(-1, 2)
    total = np.zeros(len(grid))
    for axis, radius, aspect, shift in tubes:
        reach = float(radius.max() + np.abs(shift).max()) + widen_px + 2.0
        distance, nearest = cKDTree(axis).query(grid, distance_upper_bound=reach)
        ok = np.isfinite(distance)
        i = np.minimum(nearest, len(axis) - 1)
        normals = _normals(axis)
        offset = grid - axis[i]
        across = np.einsum("ij,ij->i", offset, normals[i]) - shift[i]
        along = np.einsum("ij,ij->i", offset, normals[i][:, ::-1] * [1, -1])
        r = radius[i] + widen_px
        d2 = across**2 + along**2
        chord = 2.0 * aspect[i] * np.sqrt(np.clip(r**2 - d2, 0.0, None))
        total += np.where(ok, chord, 0.0)
    return total.reshape(h, supersample, w, supersample).mean((1, 3))


def _background(rng, size: int) -> np.ndarray:
    """Line integral of the anatomy: smooth field plus a soft rib-like edge."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 8, mode="wrap")
    field /= field.std() + 1e-12
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, np.pi)
    edge = 1.0 / (1.0 + np.exp(-((np.cos(angle) * (yy - 0.5) + np.sin(angle) * (xx - 0.5))
                                  - rng.uniform(-0.3, 0.3)) / 0.02))
    return 1.6 + 0.15 * field + 0.2 * edge


def _store(intensity: np.ndarray, options: QcaCaseOptions) -> tuple[np.ndarray, str | None]:
    """Stored values and Pixel Intensity Relationship for the case's file type."""
    top = 2 ** options.bits - 1
    if options.file_type == "LIN":
        values = intensity / np.percentile(intensity, 99.9) * 0.95 * top
        return np.clip(np.rint(values), 0, top).astype(np.uint16), "LIN"
    log = -np.log(np.maximum(intensity, 1e-6))
    lo, hi = np.percentile(log, (0.1, 99.9))
    display = np.clip((hi - log) / (hi - lo), 0.0, 1.0)  # vessels dark
    if options.file_type == "DISP":  # gamma and unsharp masking, as a viewer's display does
        display = display**0.8
        display = np.clip(display + 0.6 * (display - ndimage.gaussian_filter(display, 8.0)),
                          0.0, 1.0)
        return np.rint(display * top).astype(np.uint16), None
    return np.rint(display * top).astype(np.uint16), "LOG"


def render_case(options: QcaCaseOptions) -> QcaCase:
    """Render one case and its truth (deterministic in ``options``)."""
    rng = np.random.default_rng([options.seed, 16])
    size, px = options.size, options.mm_per_pixel
    axis = _path(rng, size, options.tortuosity)
    s_mm = np.arange(len(axis)) * 0.1 * px
    centre_mm = float(s_mm[-1] * rng.uniform(0.4, 0.6))
    reference = options.reference_mm * (1.0 - 0.15 * s_mm / s_mm[-1])  # mm, linear taper
    fraction = _fraction(s_mm, centre_mm, options)
    radius_px = 0.5 * reference * (1.0 - fraction) / px
    normals = _normals(axis)
    shift = np.zeros(len(axis))
    if options.shape == "eccentric":  # one wall stays on the reference line
        shift = 0.5 * reference / px - radius_px
    p = max(options.percent / 100.0, 1e-6)
    aspect = 1.0 + (options.lesion_aspect - 1.0) * fraction / p
    tubes = [(axis, radius_px, aspect, shift)]
    network_tubes = [(axis, radius_px, shift)]
    crossing_rc = None
    if options.crossing:
        crossing_rc, tube = _crossing_tube(rng, axis, s_mm, centre_mm, options, reference)
        tubes.append(tube)
        network_tubes.append((tube[0], tube[1], tube[3]))
    if options.second_vessel:
        tube = _second_tube(rng, axis, normals, reference, options)
        tubes.append(tube)
        network_tubes.append((tube[0], tube[1], tube[3]))
    chord_px = _chord((size, size), tubes, SUPERSAMPLE)
    line = _background(rng, size) + MU_PER_MM * chord_px * px
    primary = np.exp(-line)
    primary = ndimage.gaussian_filter(primary, options.blur_px) if options.blur_px > 0 \
        else primary
    expected = primary + options.scatter * ndimage.gaussian_filter(primary, SCATTER_SIGMA_PX)
    counts = rng.poisson(expected * options.photons).astype(float) / options.photons
    frame, relationship = _store(counts, options)
    true_mask = _chord((size, size), [(a, r, np.ones(len(r)), t) for a, r, t in network_tubes],
                       1) > 0
    probability, mask = _network(network_tubes, size, px)
    i = int(np.argmin(np.abs(s_mm - centre_mm)))
    narrow = fraction > 0.2
    return QcaCase(
        options=options, frame=frame, pixel_intensity_relationship=relationship,
        probability=probability, mask=mask, true_mask=true_mask.astype(np.uint8),
        lesion_rc=(float(axis[i, 0]), float(axis[i, 1])),
        mld_mm=float(reference[i] * (1.0 - fraction.max())), rvd_mm=float(reference[i]),
        percent_diameter=float(100.0 * fraction.max()),
        lesion_length_mm=float(narrow.sum() * 0.1 * px), crossing_rc=crossing_rc,
    )


def _network(tubes, size: int, px: float) -> tuple[np.ndarray, np.ndarray]:
    """(probability, mask) of the simulated network: widened, broken at tight lumens."""
    kept = []
    for axis, radius, shift in tubes:
        keep = 2.0 * radius * px >= NETWORK_BREAK_MM
        kept.append((axis[keep], radius[keep], np.ones(int(keep.sum())), shift[keep]))
    kept = [t for t in kept if len(t[0])]
    widened = _chord((size, size), kept, 1, widen_px=0.5 * NETWORK_WIDENING_MM / px) > 0
    probability = ndimage.gaussian_filter(widened.astype(np.float32), NETWORK_BLUR_PX)
    return probability, (probability >= 0.5).astype(np.uint8)


def _crossing_tube(rng, axis, s_mm, centre_mm, options, reference):
    """(crossing point, tube) of a straight vessel crossing the main one away from the lesion."""
    away = np.abs(s_mm - centre_mm) >= max(8.0, options.lesion_mm)
    inner = (s_mm > 0.2 * s_mm[-1]) & (s_mm < 0.8 * s_mm[-1]) & away
    candidates = np.flatnonzero(inner) if inner.any() else np.flatnonzero(away)
    j = int(rng.choice(candidates))
    tangent = axis[min(j + 5, len(axis) - 1)] - axis[max(j - 5, 0)]
    base = np.arctan2(tangent[0], tangent[1])
    angle = base + rng.choice([-1, 1]) * rng.uniform(np.deg2rad(40), np.deg2rad(90))
    half = 0.3 * options.size
    t = np.arange(-half, half, 0.1)
    points = axis[j] + t[:, None] * np.array([np.sin(angle), np.cos(angle)])
    radius = np.full(len(t), 0.5 * reference[j] * rng.uniform(0.6, 1.0) / options.mm_per_pixel)
    return (float(axis[j, 0]), float(axis[j, 1])), (points, radius, np.ones(len(t)),
                                                    np.zeros(len(t)))


def _second_tube(rng, axis, normals, reference, options):
    """A thinner vessel running beside the main one, 2–3 of its diameters away."""
    px = options.mm_per_pixel
    gap = rng.uniform(2.0, 3.0) * reference[:, None] / px * rng.choice([-1, 1])
    points = axis + gap * normals
    radius = 0.5 * reference * 0.6 / px
    return points, radius, np.ones(len(points)), np.zeros(len(points))
