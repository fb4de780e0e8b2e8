"""Overlays of the segmentation on the cine: H.264 video, animated preview, single RGB frames.

The cine is mapped to uint8 with one window for the whole run (0.5th–99.5th percentile, so frames
do not flicker), vessel contours are drawn in yellow and each stenosis gets a magenta circle with
its "%DS" label. A stenosis is drawn on its frame and on the frames within ``MARKER_HOLD_S`` of
it, so it stays visible while the video plays.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from AngioSegLib.cine import FrameSource
from AngioSegLib.errors import InputError
from AngioSegLib.io.atomic import atomic_write

__all__ = [
    "CONTOUR_RGB",
    "MARKER_RGB",
    "intensity_window",
    "normalize_to_uint8",
    "render_anatomy_frame",
    "render_overlay_frame",
    "write_overlay_video",
    "write_preview_gif",
]

CONTOUR_RGB = (255, 220, 0)
MARKER_RGB = (255, 0, 255)
MARKER_HOLD_S = 0.25

FrameMarker = tuple[float, float, str]  # (row, col, label) on one frame
RunMarker = tuple[int, float, float, str]  # (frame, row, col, label)


def intensity_window(frames: np.ndarray | FrameSource) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles of ``frames`` (sampled every 4th pixel for speed); a lazy
    (T, H, W) source is read one frame at a time (only the samples are kept)."""
    if isinstance(frames, FrameSource) and not isinstance(frames, np.ndarray):
        sample = np.stack([np.asarray(frames[t])[::4, ::4] for t in range(frames.shape[0])])
    else:
        sample = np.asarray(frames)[..., ::4, ::4] if np.ndim(frames) >= 2 else np.asarray(frames)
    low, high = np.percentile(sample, (0.5, 99.5))
    return float(low), float(high)


def normalize_to_uint8(
    frames: np.ndarray, window: tuple[float, float] | None = None
) -> np.ndarray:
    """Map ``frames`` (any shape) to uint8, ``window`` (low, high) to 0..255 (default: own)."""
    low, high = window if window is not None else intensity_window(frames)
    if high <= low:
        return np.zeros(np.shape(frames), dtype=np.uint8)
    scaled = (np.asarray(frames, dtype=np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def render_overlay_frame(
    frame: np.ndarray, mask: np.ndarray, markers: Iterable[FrameMarker] = ()
) -> np.ndarray:
    """One (H, W) frame with its mask's contours and stenosis markers as (H, W, 3) RGB uint8.

    A frame that is not uint8 is windowed on its own (see :func:`normalize_to_uint8`).
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = normalize_to_uint8(frame)
    return _draw(frame, mask, list(markers))


ANATOMY_ALPHA = 0.65  # opacity of the segment colours over the frame


def render_anatomy_frame(frame: np.ndarray, anatomy: np.ndarray, mask: np.ndarray | None = None,
                         markers: Iterable[FrameMarker] = ()) -> np.ndarray:
    """One (H, W) frame with each pixel of its label map ``anatomy`` (H, W; SYNTAX label values,
    :mod:`AngioSegLib.anatomy.segments`) tinted in its segment's colour, the vessel ``mask`` (H, W;
    default: the named pixels) outlined in the contour colour, and stenosis markers: (H, W, 3)
    RGB uint8."""
    from AngioSegLib.anatomy.segments import colour_table

    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = normalize_to_uint8(frame)
    anatomy = np.asarray(anatomy)
    rgb = _draw(frame, anatomy > 0 if mask is None else mask, list(markers))
    named = anatomy > 0
    tint = colour_table()[anatomy[named]].astype(np.float32)
    rgb[named] = np.clip((1 - ANATOMY_ALPHA) * rgb[named] + ANATOMY_ALPHA * tint, 0,
                         255).astype(np.uint8)
    return rgb


def anatomy_legend_html(values: Iterable[int]) -> str:
    """An HTML legend (colour swatch, SYNTAX number and name) of the segment ``values`` shown."""
    from AngioSegLib.anatomy.segments import segment_of

    items = []
    for value in sorted(set(int(v) for v in values) - {0}):
        segment = segment_of(value)
        colour = "#" + "".join(f"{c:02x}" for c in segment.colour)
        items.append(f'<span class="legend-item"><span class="swatch" style="background:'
                     f'{colour}"></span>{segment.syntax} {segment.name}</span>')
    return '<div class="legend">' + "".join(items) + "</div>"


def _draw(gray: np.ndarray, mask: np.ndarray, markers: Sequence[FrameMarker]) -> np.ndarray:
    if gray.ndim != 2 or np.shape(mask) != gray.shape:
        raise InputError(
            f"a frame (H, W) and its mask of the same shape are needed, found {gray.shape} "
            f"and {np.shape(mask)}"
        )
    rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    contours, _ = cv2.findContours(
        (np.asarray(mask) > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE
    )
    size = min(gray.shape)
    thickness = max(1, round(size / 384))
    cv2.drawContours(rgb, contours, -1, CONTOUR_RGB, thickness)
    radius = max(5, round(size / 40))
    scale = max(0.35, size / 1024)
    for row, col, label in markers:
        center = (round(col), round(row))
        cv2.circle(rgb, center, radius, MARKER_RGB, thickness + 1, cv2.LINE_AA)
        origin = (center[0] + radius + 2, center[1] - radius)
        cv2.putText(rgb, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    thickness + 2, cv2.LINE_AA)
        cv2.putText(rgb, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, MARKER_RGB,
                    thickness, cv2.LINE_AA)
    return rgb


def _check_run(frames: np.ndarray | FrameSource, masks: np.ndarray,
               fps: float) -> tuple[np.ndarray | FrameSource, np.ndarray]:
    """``frames`` as an array, or as it is when it is a lazy source (read a frame at a time)."""
    if not isinstance(frames, FrameSource) or isinstance(frames, np.ndarray):
        frames = np.asarray(frames)
    masks = np.asarray(masks)
    shape = tuple(frames.shape)
    if len(shape) != 3 or shape != masks.shape or shape[0] == 0:
        raise InputError(
            f"frames and masks must both be (T, H, W) with the same shape, found {shape} "
            f"and {masks.shape}"
        )
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"the frame rate must be a positive number of frames/s, found {fps}")
    return frames, masks


def _markers_by_frame(
    markers: Iterable[RunMarker] | None, n_frames: int, fps: float
) -> list[list[FrameMarker]]:
    """Each frame's markers: those of frames within MARKER_HOLD_S of it."""
    out: list[list[FrameMarker]] = [[] for _ in range(n_frames)]
    hold = round(MARKER_HOLD_S * fps)
    for frame, row, col, label in markers or ():
        for t in range(max(0, int(frame) - hold), min(n_frames, int(frame) + hold + 1)):
            out[t].append((row, col, label))
    return out


def _rendered(
    frames: np.ndarray, masks: np.ndarray, fps: float, markers: Iterable[RunMarker] | None,
    indices: Sequence[int], window: tuple[float, float] | None = None,
):
    """Yield the RGB overlay of each frame in ``indices`` (windowed once for the run: ``window``,
    or :func:`intensity_window` of ``frames``)."""
    window = intensity_window(frames) if window is None else window
    per_frame = _markers_by_frame(markers, len(frames), fps)
    for t in indices:
        yield _draw(normalize_to_uint8(frames[t], window), masks[t], per_frame[t])


def write_overlay_video(
    frames: np.ndarray,
    masks: np.ndarray,
    path: str | os.PathLike[str],
    *,
    fps: float,
    stenosis_markers: Iterable[RunMarker] | None = None,
    force: bool = False,
    window: tuple[float, float] | None = None,
) -> Path:
    """Write the overlay of every frame as H.264 MP4 (yuv420p; odd sizes padded to even).

    ``frames`` (an array or a lazy source, read a frame at a time) and ``masks`` are (T, H, W);
    ``stenosis_markers`` are (frame, row, col, label); ``window`` the grey window (low, high)
    (default: :func:`intensity_window` of the frames).
    """
    import av

    frames, masks = _check_run(frames, masks, fps)
    height, width = frames.shape[1:]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    with atomic_write(path, force=force) as tmp, av.open(str(tmp), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for rgb in _rendered(frames, masks, fps, stenosis_markers, range(len(frames)),
                            window):
            image = np.pad(rgb, pad, mode="edge")
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return Path(path)


def write_preview_gif(
    frames: np.ndarray,
    masks: np.ndarray,
    path: str | os.PathLike[str],
    *,
    fps: float,
    stenosis_markers: Iterable[RunMarker] | None = None,
    max_frames: int = 24,
    max_size_px: int = 256,
    force: bool = False,
    window: tuple[float, float] | None = None,
) -> Path:
    """Write a small looping animated preview (GIF) of the overlay for the HTML report.

    At most ``max_frames`` frames, evenly spread over the run and always including the frames
    with stenosis markers, each downscaled so its longer side is at most ``max_size_px``; the
    preview plays in real time. ``frames`` and ``window`` as for :func:`write_overlay_video`.
    """
    from PIL import Image

    frames, masks = _check_run(frames, masks, fps)
    markers = list(stenosis_markers or ())
    n = len(frames)
    spread = np.linspace(0, n - 1, min(n, max_frames)).round().astype(int)
    indices = sorted({*spread.tolist(), *(int(m[0]) for m in markers if 0 <= m[0] < n)})
    height, width = frames.shape[1:]
    factor = min(1.0, max_size_px / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    images = [
        Image.fromarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
        for rgb in _rendered(frames, masks, fps, markers, indices, window)
    ]
    duration_ms = round(1000 * n / fps / len(images))
    with atomic_write(path, force=force) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration_ms, loop=0)
    return Path(path)
