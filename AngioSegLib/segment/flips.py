"""Flip test-time augmentation: the network's vessel logits averaged over a frame and its mirror
images.

The vessel part of the shipped models was trained with horizontal and vertical flips, so each
mirrored view is an equally valid look at the frame; averaging the logits of the views, each
flipped back, cancels part of the network's orientation-dependent errors (faint branches found
in one view and not another). The coronary-segment logits are never flipped: a segment is named
by which side of the heart it runs on, and that head was trained without flips, so they come
from the frame as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Output = np.ndarray | tuple[np.ndarray, np.ndarray]
Network = Callable[[np.ndarray], Output]

FLIP_AXES = ((), (-1,), (-2,))  # as is, left-right, up-down
"""The views averaged: flip axes of each (B, 1, H, W) input."""


def flip_averaged(network: Network, batch: np.ndarray) -> Output:
    """``network``'s output for ``batch`` (B, 1, H, W) float32 with the vessel logits (B, 1, H, W)
    averaged over the views of :data:`FLIP_AXES`; the segment logits of a two-headed network
    (B, S, H/4, W/4) are those of the unflipped view. Runs all views in one network call."""
    n = len(batch)
    views = np.concatenate([np.flip(batch, axes) if axes else batch for axes in FLIP_AXES])
    output = network(np.ascontiguousarray(views))
    vessels, segments = output if isinstance(output, tuple) else (output, None)
    unflipped = [
        np.flip(vessels[k * n:(k + 1) * n], axes) if axes else vessels[:n]
        for k, axes in enumerate(FLIP_AXES)
    ]
    mean = np.mean(unflipped, axis=0, dtype=np.float32)
    return mean if segments is None else (mean, segments[:n])
