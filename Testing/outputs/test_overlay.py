"""Overlay video, preview and report frames: contours on the mask boundary, markers, files."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.outputs.overlay import (
    CONTOUR_RGB,
    MARKER_RGB,
    normalize_to_uint8,
    render_overlay_frame,
    write_overlay_video,
    write_preview_gif,
)
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom


@pytest.fixture(scope="module")
def run():
    phantom = make_phantom(PhantomOptions(seed=3, n_frames=6, size=64))
    return phantom.cine.to_array(), phantom.masks


def _is_colour(rgb: np.ndarray, colour) -> np.ndarray:
    return (rgb == np.asarray(colour, dtype=np.uint8)).all(axis=-1)


def test_contours_lie_on_the_mask_boundary(run):
    frames, masks = run
    mask = masks[-1]
    rgb = render_overlay_frame(frames[-1], mask)
    assert rgb.shape == (*mask.shape, 3) and rgb.dtype == np.uint8
    boundary = mask.astype(bool) & ~ndimage.binary_erosion(mask, border_value=0)
    coloured = _is_colour(rgb, CONTOUR_RGB)
    assert boundary.any()
    assert coloured[boundary].all()  # every boundary pixel is drawn
    assert not coloured[~boundary].any()  # and nothing else
    # the pixels off the contour keep the grey cine
    grey = normalize_to_uint8(frames[-1])
    np.testing.assert_array_equal(rgb[~boundary][:, 0], grey[~boundary])


def test_empty_mask_draws_nothing_and_markers_are_drawn(run):
    frames, masks = run
    rgb = render_overlay_frame(frames[0], np.zeros_like(masks[0]))
    assert not _is_colour(rgb, CONTOUR_RGB).any()
    assert (rgb[..., 0] == rgb[..., 1]).all()
    marked = render_overlay_frame(frames[0], np.zeros_like(masks[0]), [(32.0, 20.0, "63%")])
    magenta = _is_colour(marked, MARKER_RGB)
    rows, cols = np.nonzero(magenta)
    assert magenta.sum() > 20
    assert abs(np.median(rows) - 32) < 6  # circle (+ label beside it) around the marker


def test_video_decodes_to_every_frame_even_size(run, tmp_path):
    frames, masks = run
    odd_frames, odd_masks = frames[:, :63, :61], masks[:, :63, :61]
    markers = [(2, 30.0, 30.0, "50%")]
    path = write_overlay_video(odd_frames, odd_masks, tmp_path / "overlay.mp4", fps=15.0,
                               stenosis_markers=markers)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == pytest.approx(15.0)
    assert len(decoded) == len(frames)
    assert decoded[0].shape == (64, 62, 3)
    # the yellow contour survives H.264 (4:2:0 chroma): red exceeds blue on the mask boundary only
    last = decoded[-1][:63, :61].astype(int)
    boundary = odd_masks[-1].astype(bool) & ~ndimage.binary_erosion(odd_masks[-1], border_value=0)
    red_minus_blue = last[..., 0] - last[..., 2]
    assert red_minus_blue[boundary].mean() > 60
    assert abs(red_minus_blue[~ndimage.binary_dilation(boundary, iterations=2)].mean()) < 5


def test_preview_is_small_and_animated(run, tmp_path):
    frames, masks = run
    big = np.repeat(np.repeat(frames, 5, axis=1), 5, axis=2)  # 320 × 320
    big_masks = np.repeat(np.repeat(masks, 5, axis=1), 5, axis=2)
    path = write_preview_gif(big, big_masks, tmp_path / "preview.gif", fps=15.0, max_frames=4,
                             stenosis_markers=[(4, 100.0, 100.0, "70%")])
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.size == (256, 256)
        assert image.n_frames == 5  # frames 0, 2, 3, 5 + the marker frame 4
        assert image.info["loop"] == 0


def test_outputs_refuse_overwrite_and_bad_input(run, tmp_path):
    frames, masks = run
    for writer, name in ((write_overlay_video, "overlay.mp4"), (write_preview_gif, "p.gif")):
        path = tmp_path / name
        path.write_bytes(b"keep")
        with pytest.raises(OutputExistsError, match="already exists"):
            writer(frames, masks, path, fps=15.0)
        assert path.read_bytes() == b"keep"
        writer(frames, masks, path, fps=15.0, force=True)
        assert path.stat().st_size > 100
        with pytest.raises(InputError, match="same shape"):
            writer(frames, masks[:2], tmp_path / ("x" + name), fps=15.0)
        with pytest.raises(InputError, match="frame rate"):
            writer(frames, masks, tmp_path / ("x" + name), fps=0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlay.mp4", "p.gif"]
