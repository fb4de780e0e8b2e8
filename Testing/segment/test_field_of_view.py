"""Field of view: shutters of any grey, soft edges and borders are found (rendered with known
truth), dense anatomy and dark vessels are not."""

from __future__ import annotations

import numpy as np
import pytest

from AngioSegLib.phantom.collimation import Collimation, blocked_fraction, collimate
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.segment.field_of_view import FRINGE_GRID, field_of_view


def test_shutters_are_cleared_with_a_margin_and_anatomy_is_kept():
    rng = np.random.default_rng(0)
    frame = rng.normal(2000.0, 60.0, (256, 256))
    frame[180:, :] = rng.normal(700.0, 80.0, (76, 256))  # dense, textured anatomy (liver)
    frame[100:104, :] = 500.0  # a dark vessel that runs to both image borders
    rows, cols = np.mgrid[0:256, 0:256]
    frame[rows + cols < 60] = 20.0  # a flat-black corner shutter
    frame[:, 240:] = 20.0  # and a straight one along the right edge
    field = field_of_view(frame)
    assert not field[rows + cols < 60].any() and not field[:, 240:].any()
    margin = round(0.008 * 256) + 256 // FRINGE_GRID  # the band, and one cell of the fringe grid
    assert not field[128, 240 - margin] and field[128, 240 - margin - 1]  # band along the edge
    assert field[200:, :230].all()  # the dense region stays
    assert field[100:104, 70:230].all()  # and so does the vessel
    assert field[0, 128]  # the image border is not a shutter edge


def test_frames_without_shutters_keep_every_pixel():
    frame = make_phantom(PhantomOptions(seed=3, n_frames=1, size=128)).cine.frame(0)
    assert field_of_view(frame).all()
    assert field_of_view(np.full((32, 32), 7.0)).all()


def _phantom_frame(size: int = 256) -> np.ndarray:
    return make_phantom(PhantomOptions(seed=5, n_frames=6, size=size)).cine.frames[5]


COLLIMATIONS = {
    "black blades": Collimation("blades", blades=(0.1, 0.0, 0.15, 0.1), angle_deg=7.0),
    "grey flat border": Collimation("border", border_px=14, level=0.45),
    "bright flat border": Collimation("border", border_px=10, level=1.1),
    "black octagon": Collimation("octagon", radius=0.45),
    "round, soft black edge": Collimation("round", radius=0.44, softness_px=24.0),
    "graded black blade": Collimation("blades", blades=(0.2, 0.0, 0.0, 0.0), softness_px=40.0),
}


@pytest.mark.parametrize("name", COLLIMATIONS)
def test_no_field_outside_a_rendered_collimation(name):
    """Whatever the collimator's grey or edge, nothing it blocks by more than 60 % is field (a
    soft edge's outer ramp included), and most of the irradiated field stays."""
    collimation = COLLIMATIONS[name]
    frame, _, field = collimate(_phantom_frame(), None, collimation)
    found = field_of_view(frame)
    blocked = blocked_fraction(frame.shape, collimation)
    assert not (found & (blocked > 0.6)).any(), "field of view found behind the collimator"
    assert found[blocked == 0].mean() > 0.85, "the irradiated field is kept"


def test_a_graded_shutter_clears_its_ramp():
    """A soft shutter's ramp (40 px here) is cleared while the image is still well below the
    field's grey, not just the flat-black part behind the blade."""
    collimation = COLLIMATIONS["graded black blade"]
    frame, _, _ = collimate(_phantom_frame(), None, collimation)
    blocked = blocked_fraction(frame.shape, collimation)
    found = field_of_view(frame)
    assert not found[(blocked > 0.6) & (blocked < 0.9)].any()


def test_the_model_finds_no_vessel_behind_rendered_collimators():
    """The shipped model and field of view, end to end: no vessel probability above 0.5 behind
    any collimator or within its edge band."""
    from AngioSegLib.segment.segmenter import Segmenter

    segmenter = Segmenter(device="cpu")
    base = _phantom_frame()
    for collimation in COLLIMATIONS.values():
        frame, _, _ = collimate(base, None, collimation)
        probability = segmenter.segment_frames(frame[None])[0]
        blocked = blocked_fraction(frame.shape, collimation)
        assert not (probability[blocked > 0.5] > 0.5).any(), collimation


def test_a_strip_along_the_image_border_is_cleared_and_crossing_vessels_kept():
    import cv2

    from AngioSegLib.segment.field_of_view import edge_strips

    mask = np.zeros((512, 512), np.uint8)
    mask[1:3, 100:400] = 1  # a 2 px strip along the top border (a frame line called vessel)
    mask[200:350, 508:512] = 1  # a 4 px one along the right border
    cv2.line(mask, (0, 300), (120, 360), 1, 8)  # a vessel leaving across the left border, 27°
    mask[420:512, 250:258] = 1  # and one leaving straight down
    cv2.line(mask, (300, 150), (300, 250), 1, 6)  # and one inside
    frame = np.random.default_rng(0).normal(1000.0, 30.0, (512, 512)).astype(np.float32)
    frame[0, :] = frame[:, 0] = frame[-1, :] = frame[:, -1] = 0.0  # a dark frame line
    frame[1:, -3:] = 300.0  # and a graded dark edge along the right side
    strips = edge_strips(mask.astype(bool), frame)
    assert strips[1:3, 100:400].all() and strips[200:350, 508:512].all()
    assert strips.sum() == 2 * 300 + 150 * 4  # nothing else
    assert not strips[:, :10].any() and not strips[-10:, :].any()
    assert not edge_strips(np.zeros((512, 512), bool), frame).any()
    # a cropped angiogram has no border edge: its vessels run on to the crop's border
    crop = np.random.default_rng(1).normal(1000.0, 30.0, (512, 512)).astype(np.float32)
    assert not edge_strips(mask.astype(bool), crop).any()
