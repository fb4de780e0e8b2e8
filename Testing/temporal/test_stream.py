"""The streamed temporal filter gives what the whole-run filter gives, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from AngioSegLib.errors import InputError
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.temporal.filter import filter_probabilities
from AngioSegLib.temporal.options import TemporalOptions
from AngioSegLib.temporal.stream import filter_stream


@pytest.fixture(scope="module")
def run():
    phantom = make_phantom(PhantomOptions(seed=3, n_frames=9, size=96))
    frames = phantom.cine.to_array()
    rng = np.random.default_rng(0)
    noisy = phantom.masks.astype(np.float32) * 0.8 + rng.random(frames.shape, np.float32) * 0.2
    return frames, noisy


@pytest.mark.parametrize("options", [
    TemporalOptions(),
    TemporalOptions(k=1),
    TemporalOptions(k=3, weights="gaussian"),
    TemporalOptions(k=2, weights="reliability"),
    TemporalOptions(k=2, motion_compensation=False),
    TemporalOptions(k=2, motion_compensation=False, weights="reliability"),
    TemporalOptions(k=0),
    TemporalOptions(k=5),  # more neighbours than the run has on either side of most frames
], ids=str)
@pytest.mark.parametrize("n_frames", [1, 2, 9])
def test_streamed_filter_equals_the_whole_run_filter(run, options, n_frames):
    frames, probabilities = run[0][:n_frames], run[1][:n_frames]
    whole = filter_probabilities(probabilities, frames, options)
    streamed = list(filter_stream(iter(probabilities), frames, options))
    assert [f.index for f in streamed] == list(range(n_frames))
    np.testing.assert_array_equal(np.stack([f.probability for f in streamed]),
                                  whole.probabilities)
    np.testing.assert_array_equal(np.stack([f.mask for f in streamed]), whole.masks)


def test_the_stream_holds_a_window_not_the_run(run):
    frames, probabilities = run
    options = TemporalOptions(k=2)
    given = []

    def source():
        for t, p in enumerate(probabilities):
            given.append(t)
            yield p

    for frame in filter_stream(source(), frames, options):
        # frame k comes out as soon as frame k + K went in (or the run ended)
        assert given[-1] == min(frame.index + options.k, len(frames) - 1)
        held = sorted(frame.motion.small)
        assert len(held) <= 2 * options.k + 1
        assert held[0] >= min(frame.index, len(frames) - 1 - options.k) - options.k


def test_the_stream_reports_flow_and_filter_progress(run):
    frames, probabilities = run
    seen = []
    list(filter_stream(iter(probabilities), frames, TemporalOptions(), seen.append))
    assert [p.done for p in seen if p.stage == "temporal"] == list(range(1, len(frames) + 1))
    assert [p.done for p in seen if p.stage == "optical flow"] == list(range(1, len(frames)))


def test_wrong_probability_frames_are_refused(run):
    frames, probabilities = run
    with pytest.raises(InputError, match="must lie in"):
        list(filter_stream(iter(probabilities * 2), frames))
    with pytest.raises(InputError, match="need shape"):
        list(filter_stream(iter(probabilities[:, 1:]), frames))
    with pytest.raises(InputError, match="probability frames came"):
        list(filter_stream(iter(probabilities[:4]), frames))
    with pytest.raises(InputError, match="more probability frames"):
        list(filter_stream(iter(np.concatenate([probabilities, probabilities[:1]])), frames))
