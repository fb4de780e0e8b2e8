"""FrameSpill: frames written one at a time to a temporary file, read back as a memmap."""

from __future__ import annotations

import numpy as np
import pytest

from AngioSegLib.errors import InputError
from AngioSegLib.io.frame_spill import FrameSpill


def test_frames_come_back_as_a_read_only_map():
    frames = np.random.default_rng(0).random((3, 5, 7), np.float32)
    spill = FrameSpill(frames.shape)
    for frame in frames:
        spill.write(frame)
    stack = spill.array()
    assert isinstance(stack, np.memmap) and not stack.flags.writeable
    np.testing.assert_array_equal(stack, frames)
    with pytest.raises(ValueError, match="read-only"):
        stack[0, 0, 0] = 1


def test_frames_are_cast_to_the_stack_dtype():
    spill = FrameSpill((2, 2, 2), np.uint8)
    spill.write(np.ones((2, 2), bool))
    spill.write(np.zeros((2, 2), np.int64))
    assert spill.array().dtype == np.uint8


def test_wrong_frames_are_refused():
    spill = FrameSpill((1, 2, 2))
    with pytest.raises(InputError, match=r"frames of this stack are \(2, 2\)"):
        spill.write(np.zeros((3, 2)))
    with pytest.raises(InputError, match="0 of 1 frames are written"):
        spill.array()
    spill.write(np.zeros((2, 2)))
    with pytest.raises(InputError, match="no room for another"):
        spill.write(np.zeros((2, 2)))
    with pytest.raises(InputError, match=r"needs a \(T, H, W\) shape"):
        FrameSpill((2, 2))
