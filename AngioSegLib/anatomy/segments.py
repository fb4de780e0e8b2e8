"""Coronary segments: the SYNTAX segment table, and naming every vessel pixel of a run.

Label values are ARCADE's (Popov et al., Sci Data 11, 2024): 0 background, 1–25 the SYNTAX
coronary segments of :data:`SEGMENTS` (value 10 is SYNTAX segment "9a", and so on). A network
with a segment head (:class:`~AngioSegLib.model.cenet.CENet`, ``segment_classes`` =
:data:`SEGMENT_CLASSES`) gives per pixel one logit per class: class 0 "vessel of no named
segment" (the small branches ARCADE's experts did not label), class k the segment of value k.

A frame's labels (:func:`name_vessels`) are the most likely class at each vessel pixel, then a vote
among the vessel pixels within a few pixels (:func:`vote_nearby`), so that a name does not change
pixel by pixel for noise and a segment's proximal / mid / distal border falls where the head puts
it; a name on a sliver of the frame's vessel is withdrawn. Along time, :func:`vote_over_time` takes,
at each pixel, the most common name among the frame and its 2K+1 neighbours warped onto it by the
optical flow of the temporal filter, so a segment's name does not flicker between frames. Pixels
whose class is 0 keep value 0 in the label map: the vessel mask says they are vessel, the anatomy
says only that no named segment is there. Where the view does not show a segment no pixel carries it
(labels exist only on vessel pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from AngioSegLib.errors import InputError


@dataclass(frozen=True)
class CoronarySegment:
    """One SYNTAX coronary segment: label ``value``, SYNTAX number ``syntax`` (e.g. "9a"),
    short ``name`` (e.g. "LAD mid"), ``artery`` it belongs to, display ``colour`` (RGB 0–255)."""

    value: int
    syntax: str
    name: str
    artery: str
    colour: tuple[int, int, int]


SEGMENTS: tuple[CoronarySegment, ...] = (
    CoronarySegment(1, "1", "RCA proximal", "RCA", (230, 25, 75)),
    CoronarySegment(2, "2", "RCA mid", "RCA", (245, 130, 48)),
    CoronarySegment(3, "3", "RCA distal", "RCA", (255, 225, 25)),
    CoronarySegment(4, "4", "R-PDA", "RCA", (250, 190, 212)),
    CoronarySegment(5, "5", "Left main", "LM", (255, 255, 255)),
    CoronarySegment(6, "6", "LAD proximal", "LAD", (60, 180, 75)),
    CoronarySegment(7, "7", "LAD mid", "LAD", (170, 255, 195)),
    CoronarySegment(8, "8", "LAD apical", "LAD", (128, 128, 0)),
    CoronarySegment(9, "9", "First diagonal", "LAD", (210, 245, 60)),
    CoronarySegment(10, "9a", "First diagonal a", "LAD", (188, 143, 143)),
    CoronarySegment(11, "10", "Second diagonal", "LAD", (0, 128, 128)),
    CoronarySegment(12, "10a", "Second diagonal a", "LAD", (154, 205, 50)),
    CoronarySegment(13, "11", "Circumflex proximal", "LCx", (0, 130, 200)),
    CoronarySegment(14, "12", "Intermediate/anterolateral", "LCx", (70, 240, 240)),
    CoronarySegment(15, "12a", "Obtuse marginal a", "LCx", (145, 30, 180)),
    CoronarySegment(16, "13", "Circumflex distal", "LCx", (0, 0, 128)),
    CoronarySegment(17, "14", "Left posterolateral", "LCx", (220, 190, 255)),
    CoronarySegment(18, "14a", "Left posterolateral a", "LCx", (240, 50, 230)),
    CoronarySegment(19, "15", "L-PDA", "LCx", (100, 149, 237)),
    CoronarySegment(20, "16", "R-PLB", "RCA", (170, 110, 40)),
    CoronarySegment(21, "16a", "R-PLB a", "RCA", (255, 215, 180)),
    CoronarySegment(22, "16b", "R-PLB b", "RCA", (128, 0, 0)),
    CoronarySegment(23, "16c", "R-PLB c", "RCA", (255, 160, 122)),
    CoronarySegment(24, "12b", "Obtuse marginal b", "LCx", (186, 85, 211)),
    CoronarySegment(25, "14b", "Left posterolateral b", "LCx", (147, 112, 219)),
)
"""The 25 SYNTAX coronary segments by label value (ARCADE's values and order)."""

SEGMENT_CLASSES = len(SEGMENTS) + 1
"""Classes of the segment head: 0 (vessel of no named segment), then one per label value."""

IGNORE_CLASS = 255
"""Training target of a pixel that teaches the segment head nothing."""

BY_VALUE = {s.value: s for s in SEGMENTS}


def segment_of(value: int) -> CoronarySegment | None:
    """The segment of label ``value`` (1–25), None for 0 (no named segment)."""
    value = int(value)
    if value == 0:
        return None
    if value not in BY_VALUE:
        raise InputError(f"label value {value} is no SYNTAX segment: the values are 0 "
                         f"(none) and 1–{len(SEGMENTS)}")
    return BY_VALUE[value]


def colour_table() -> np.ndarray:
    """(26, 3) uint8 RGB colours by label value (row 0, background, black)."""
    table = np.zeros((SEGMENT_CLASSES, 3), np.uint8)
    for s in SEGMENTS:
        table[s.value] = s.colour
    return table


def classes_from_logits(logits: np.ndarray) -> np.ndarray:
    """(h, w) uint8 most likely class of segment logits (S, h, w), S = SEGMENT_CLASSES."""
    logits = np.asarray(logits)
    if logits.ndim != 3 or logits.shape[0] != SEGMENT_CLASSES:
        raise InputError(f"segment logits must be ({SEGMENT_CLASSES}, H, W), found "
                         f"{logits.shape}")
    return np.argmax(logits, axis=0).astype(np.uint8)


def upsample_classes(classes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(rows, cols) uint8: classes (h, w) at a coarser resolution, nearest-neighbour onto a
    frame of ``shape`` (the network's 1/4 grid, or any other)."""
    import cv2

    return cv2.resize(np.asarray(classes, np.uint8), (int(shape[1]), int(shape[0])),
                      interpolation=cv2.INTER_NEAREST)


NAMING_RADIUS_PX = 6
"""A lesion takes the most common segment name within this distance of its MLD point (px): at a
tight lesion the vessel mask may thin to nothing at the point itself."""


def segment_at(labels: np.ndarray, row: float, col: float,
               radius_px: float = NAMING_RADIUS_PX) -> CoronarySegment | None:
    """The coronary segment at (``row``, ``col``) of a frame's label map (H, W): the most common
    nonzero label within ``radius_px``; None where no named segment is that near."""
    labels = np.asarray(labels)
    r, c = int(round(row)), int(round(col))
    reach = int(np.ceil(radius_px))
    top, left = max(r - reach, 0), max(c - reach, 0)
    window = labels[top: r + reach + 1, left: c + reach + 1]
    rows, cols = np.ogrid[top: top + window.shape[0], left: left + window.shape[1]]
    near = (rows - row) ** 2 + (cols - col) ** 2 <= radius_px ** 2
    values = window[near & (window > 0)]
    if values.size == 0:
        return None
    return segment_of(int(np.bincount(values).argmax()))


def name_analysis(analysis, anatomy: np.ndarray):
    """``analysis`` (a :class:`~AngioSegLib.qca.measures.RunAnalysis`) with every analysis segment
    named by the segment most of its centerline runs in, and every stenosis by the segment at
    its MLD point (:func:`segment_at`), on the analysis frame of ``anatomy`` (T, H, W)."""
    from dataclasses import replace

    labels = np.asarray(anatomy)[analysis.analysis_frame]

    def named(item, segment: CoronarySegment | None):
        if segment is None:
            return item
        return replace(item, syntax_segment=segment.syntax, segment_name=segment.name)

    segments = tuple(named(s, _segment_along(labels, s.points_rc)) for s in analysis.segments)
    stenoses = tuple(named(s, segment_at(labels, *s.position_rc)) for s in analysis.stenoses)
    return replace(analysis, segments=segments, stenoses=stenoses)


def _segment_along(labels: np.ndarray, points_rc: np.ndarray) -> CoronarySegment | None:
    """The most common nonzero label under a centerline (N, 2) (row, col), None if none."""
    points = np.round(np.asarray(points_rc, float)).astype(int)
    if points.size == 0:
        return None
    rows = np.clip(points[:, 0], 0, labels.shape[0] - 1)
    cols = np.clip(points[:, 1], 0, labels.shape[1] - 1)
    values = labels[rows, cols]
    values = values[values > 0]
    return segment_of(int(np.bincount(values).argmax())) if values.size else None


MIN_SEGMENT_SHARE = 0.02
"""A segment name that wins less than this share of a frame's vessel pixels is not given: such a
sliver is the segment head's noise, not a segment in view (on ARCADE val, 2 of the experts' 1167
segments cover less than 2 % of the vessel the network finds; the head's slivers are many, and a
name predicted where the reference has none scores an F1 of 0)."""

NAME_SIGMA_PX = 2.0
"""Width (px) of the gaussian neighbourhood whose vessel pixels vote for each pixel's name. On
ARCADE val (200, `cenet-light-syntax` 0.5.0): per-pixel classes alone F1 0.459, σ 2 px 0.461,
4 px 0.461, 6 px 0.459; one vote per skeleton branch, the earlier rule, 0.431 (a branch of the
RCA or LAD runs through the proximal / mid / distal borders and took one name for all)."""


def vote_nearby(classes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) uint8 label map: each vessel pixel takes the class carried by most of the vessel
    pixels around it (gaussian weights, σ = :data:`NAME_SIGMA_PX`), so that a name holds over a
    stretch of vessel rather than pixel by pixel. A name carried by under
    :data:`MIN_SEGMENT_SHARE` of the frame's vessel pixels is withdrawn first: its pixels take
    the most common other name near them, 0 where none is. ``classes`` (H, W) per-pixel classes
    of the segment head, ``mask`` (H, W) vessel.

    Each class's votes are blurred over its own pixels' bounding box only (the kernel reaches
    4 σ; nothing lies beyond the frame), and read at the vessel pixels: 2.5 ms a 512² frame where
    blurring the whole frame once per class took 9 ms."""
    mask = np.asarray(mask) > 0
    labels = np.zeros(mask.shape, np.uint8)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return labels
    own = np.asarray(classes)[rows, cols]
    share = np.bincount(own, minlength=SEGMENT_CLASSES) / own.size
    kept = share >= MIN_SEGMENT_SHARE
    kept[0] = True  # "vessel of no named segment" is no name to withdraw
    values = np.flatnonzero(kept & (share > 0))
    weights = np.stack([_votes_of(own == value, rows, cols, mask.shape) for value in values])
    best = weights.argmax(axis=0)
    labels[rows, cols] = np.where(weights.max(axis=0) > 0, values[best], 0)
    return labels


def _votes_of(voters: np.ndarray, rows: np.ndarray, cols: np.ndarray,
              shape: tuple[int, int]) -> np.ndarray:
    """(N,) float32 gaussian-weighted count (σ = :data:`NAME_SIGMA_PX`) of the ``voters`` (N,)
    bool among the vessel pixels (``rows``, ``cols``) (N,) around each of them, in a frame of
    ``shape``."""
    import cv2

    reach = int(np.ceil(4 * NAME_SIGMA_PX))  # OpenCV's float kernel: 2·round(4σ) + 1 taps
    r, c = rows[voters], cols[voters]
    top, left = max(int(r.min()) - reach, 0), max(int(c.min()) - reach, 0)
    bottom = min(int(r.max()) + reach + 1, shape[0])
    right = min(int(c.max()) + reach + 1, shape[1])
    box = np.zeros((bottom - top, right - left), np.float32)
    box[r - top, c - left] = 1.0
    box = cv2.GaussianBlur(box, (0, 0), NAME_SIGMA_PX, borderType=cv2.BORDER_CONSTANT)
    votes = np.zeros(rows.size, np.float32)
    inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
    votes[inside] = box[rows[inside] - top, cols[inside] - left]
    return votes


def vote_over_time(labels: np.ndarray, masks: np.ndarray, flows=None, k: int = 2) -> np.ndarray:
    """(T, H, W) uint8: each vessel pixel's most common label among frames t−k…t+k, moved onto
    frame t along ``flows`` (a :class:`~AngioSegLib.temporal.flow.MotionField`, nearest neighbour;
    None: not moved), frame t's own label counting twice so that it wins ties.

    ``labels`` (T, H, W) uint8 per-frame labels; ``masks`` (T, H, W) vessel masks; ``k`` frames.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if k <= 0 or n < 2:
        return labels.copy()
    out = np.zeros(labels.shape, np.uint8)
    for t in range(n):
        rows, cols = np.nonzero(np.asarray(masks[t]) > 0)  # only vessel pixels are named
        if rows.size == 0:
            continue
        own = labels[t][rows, cols]
        seen = [own, own]  # own frame counts twice
        for step in (-1, 1):
            lags = min(k, t if step == -1 else n - 1 - t)
            maps = (flows.chain_maps(t, step, lags) if flows is not None and lags
                    else (None for _ in range(lags)))
            for lag, grid_map in enumerate(maps, start=1):
                seen.append(_labels_moved(labels[t + step * lag], grid_map, rows, cols))
        pixel = np.tile(np.arange(rows.size), len(seen))
        votes = np.bincount(pixel * SEGMENT_CLASSES + np.concatenate(seen).astype(np.int64),
                            minlength=rows.size * SEGMENT_CLASSES).reshape(rows.size, -1)
        out[t][rows, cols] = votes.argmax(axis=1)
    return out


def _labels_moved(labels: np.ndarray, grid_map, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(N,) a neighbour frame's ``labels`` (H, W) at the pixels (``rows``, ``cols``) of frame t
    moved along a flow-grid map to that frame (nearest pixel, border repeated; None: not moved)."""
    from AngioSegLib.temporal.flow import displacement_at

    if grid_map is None:
        return labels[rows, cols]
    dx, dy = displacement_at(grid_map, labels.shape, rows, cols).T
    r = np.clip(np.rint(rows + dy), 0, labels.shape[0] - 1).astype(np.intp)
    c = np.clip(np.rint(cols + dx), 0, labels.shape[1] - 1).astype(np.intp)
    return labels[r, c]


def name_vessels(classes: np.ndarray, masks: np.ndarray, flows=None, k: int = 2) -> np.ndarray:
    """(T, H, W) uint8 anatomy label maps of a run (0 background or unnamed vessel, else the
    SYNTAX segment's value): per-pixel ``classes`` (T, H, W) from the segment head, voted among
    each frame's nearby vessel pixels (:func:`vote_nearby`) on the vessel ``masks`` (T, H, W),
    then over 2K+1 frames along the motion (:func:`vote_over_time`)."""
    classes, masks = np.asarray(classes), np.asarray(masks)
    if classes.shape != masks.shape:
        raise InputError(f"segment classes {classes.shape} and vessel masks {masks.shape} "
                         "differ in shape")
    per_frame = np.stack([vote_nearby(c, m) for c, m in zip(classes, masks, strict=True)])
    return vote_over_time(per_frame, masks, flows, k)
