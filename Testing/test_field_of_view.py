"""Field of view: flat-black shutters are found, dense anatomy and dark vessels are not."""

from __future__ import annotations

import numpy as np

from AngioSegLib.field_of_view import field_of_view
from AngioSegLib.phantom import PhantomOptions, make_phantom


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
    margin = round(0.008 * 256)
    assert not field[128, 240 - margin] and field[128, 240 - margin - 2]  # band along the edge
    assert field[200:, :230].all()  # the dense region stays
    assert field[100:104, 70:230].all()  # and so does the vessel
    assert field[0, 128]  # the image border is not a shutter edge


def test_frames_without_shutters_keep_every_pixel():
    frame = make_phantom(PhantomOptions(seed=3, n_frames=1, size=128)).cine.frame(0)
    assert field_of_view(frame).all()
    assert field_of_view(np.full((32, 32), 7.0)).all()
