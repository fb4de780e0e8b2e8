"""Flip test-time augmentation: each view is flipped back before the average, the segment logits
are the unflipped view's, and the Segmenter's ``flip_average`` runs it on a real network."""

from __future__ import annotations

import numpy as np

from AngioSegLib.evaluation.metrics import dice
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.segment.flips import FLIP_AXES, flip_averaged
from AngioSegLib.segment.segmenter import InferenceOptions, Segmenter


def _position_network(batch: np.ndarray) -> np.ndarray:
    """The input plus a ramp along the columns and rows: mirrored views see different ramps."""
    _, _, h, w = batch.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    return batch + cols + 10 * rows


def test_each_view_is_flipped_back_before_the_average():
    batch = np.random.default_rng(0).random((2, 1, 6, 8)).astype(np.float32)
    rows, cols = np.mgrid[0:6, 0:8].astype(np.float32)
    # as is: cols + 10 rows; left-right view flipped back: (7 - cols) + 10 rows; up-down:
    # cols + 10 (5 - rows). The input itself comes back unmoved in all three.
    expected = batch + (2 * cols + (7 - cols)) / 3 + 10 * (2 * rows + (5 - rows)) / 3
    assert len(FLIP_AXES) == 3
    np.testing.assert_allclose(flip_averaged(_position_network, batch), expected, rtol=1e-6)


def test_segment_logits_are_those_of_the_unflipped_view():
    batch = np.random.default_rng(1).random((3, 1, 8, 8)).astype(np.float32)
    calls = []

    def two_heads(views):
        calls.append(len(views))
        return views.copy(), views[:, :, ::4, ::4] * 2

    vessels, segments = flip_averaged(two_heads, batch)
    assert calls == [9]  # every view of every frame in one network call
    np.testing.assert_allclose(segments, batch[:, :, ::4, ::4] * 2)
    assert vessels.shape == batch.shape and vessels.dtype == np.float32


def test_flip_averaged_segmentation_of_a_phantom(tmp_path):
    run = make_phantom(PhantomOptions(seed=11, n_frames=2, size=192))
    plain = Segmenter("cenet-light", InferenceOptions(device="cpu", cache_dir=tmp_path))
    flips = Segmenter("cenet-light", InferenceOptions(device="cpu", cache_dir=tmp_path,
                                                      flip_average=True))
    averaged, single = flips.segment_frames(run.cine), plain.segment_frames(run.cine)
    assert averaged.shape == single.shape and 0 <= averaged.min() and averaged.max() <= 1
    assert dice(averaged >= 0.5, run.masks) > 0.6
    assert not np.array_equal(averaged, single)
    # a frame mirrored left-right is still found where its vessels are
    mirrored = flips.segment_frames(run.cine.to_array()[:, :, ::-1].copy())
    assert dice(mirrored[:, :, ::-1] >= 0.5, averaged >= 0.5) > 0.9
