"""`AngioSegLib.io.images`: the one image-file reader and its colour policy, shared by cines,
evaluation and training datasets; file listing and natural order."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from AngioSegLib.errors import InputError
from AngioSegLib.evaluation.evaluate import _read_mask, read_gray
from AngioSegLib.io import read_cine
from AngioSegLib.io.images import (
    IMAGE_SUFFIXES,
    grey_plane,
    image_files,
    natural_key,
    read_grey,
    read_grey_image,
)
from AngioSegLib.training.data import load_folder_samples

GREY = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5


def _coloured() -> np.ndarray:
    rgb = np.repeat(GREY[..., None], 3, axis=2)
    rgb[2, 3] = (200, 10, 10)  # one red pixel: an overlay, not grey
    return rgb


@pytest.mark.parametrize("stored", [GREY, np.repeat(GREY[..., None], 3, axis=2),
                                    np.dstack([GREY, GREY, GREY, np.full_like(GREY, 255)])])
def test_grey_stored_as_grey_rgb_or_rgba_reads_as_the_grey_plane(tmp_path, stored):
    iio.imwrite(tmp_path / "a.png", stored)
    read = read_grey_image(tmp_path / "a.png")
    np.testing.assert_array_equal(read.pixels, GREY)
    assert read.pixels.dtype == np.uint8 and read.had_channels == (stored.ndim == 3)
    np.testing.assert_array_equal(read_grey(tmp_path / "a.png"), GREY)


def test_a_coloured_image_is_refused_by_every_reader(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    iio.imwrite(folder / "1.png", _coloured())
    iio.imwrite(folder / "1_gt.png", (GREY > 100).astype(np.uint8) * 255)
    message = r"1\.png is a colour image; AngioSeg reads greyscale angiograms and masks"
    with pytest.raises(InputError, match=message):
        read_grey(folder / "1.png")
    with pytest.raises(InputError, match=message):
        read_gray(folder / "1.png")  # evaluation
    with pytest.raises(InputError, match=message):
        load_folder_samples(folder)  # training
    with pytest.raises(InputError, match=message):
        read_cine(folder / "1.png")  # a cine frame


def test_grey_rgb_mask_is_read_and_reported_as_stored_with_channels(tmp_path):
    iio.imwrite(tmp_path / "m.png", np.repeat((GREY > 100)[..., None] * 255, 3, axis=2)
                .astype(np.uint8))
    mask, reason = _read_mask(tmp_path / "m.png")
    np.testing.assert_array_equal(mask, GREY > 100)
    assert reason == "colour"


def test_floating_point_and_16_bit_pixels_are_kept_as_stored():
    assert grey_plane(np.full((3, 4), 0.25, np.float32), "f").pixels.dtype == np.float32
    assert grey_plane(np.full((3, 4, 3), 4000, np.uint16), "u").pixels.dtype == np.uint16
    with pytest.raises(InputError, match=r"v has shape \(2, 3, 4, 3\); expected a 2-D greyscale"):
        grey_plane(np.zeros((2, 3, 4, 3), np.uint8), "v")


def test_image_files_are_listed_in_natural_order_without_hidden_files(tmp_path):
    for name in ("frame10.png", "frame9.PNG", "frame1.tif", ".frame0.png", "notes.txt",
                 "frame2.pgm"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "frame3.png").mkdir()
    assert [p.name for p in image_files(tmp_path)] == ["frame1.tif", "frame2.pgm",
                                                       "frame9.PNG", "frame10.png"]
    assert sorted(["10.png", "2.png", "1_gt.png", "1.png"], key=natural_key) == [
        "1.png", "1_gt.png", "2.png", "10.png"]
    assert {".png", ".tif", ".tiff", ".jpg", ".pgm", ".ppm", ".gif", ".bmp"} <= set(IMAGE_SUFFIXES)
