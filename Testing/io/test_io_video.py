"""`read_cine` on research data: PNG/TIFF folders, single images, TIFF stacks and video files."""

from __future__ import annotations

from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from AngioSegLib.cine import FrameSource
from AngioSegLib.errors import InputError
from AngioSegLib.io import read_cine

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def frames_u8(n_frames=5, rows=32, columns=48, seed=0) -> np.ndarray:
    """A moving dark band on a smooth background (video codecs keep it well)."""
    r, c = np.mgrid[:rows, :columns]
    frames = [
        180 - 100 * np.exp(-(((c - 10 - 5 * t) / 3.0) ** 2)) + 20 * r / rows
        for t in range(n_frames)
    ]
    return np.asarray(frames).round().astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, codec: str, pix_fmt: str, fps: int = 15) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for image in frames:
            rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_png_folder_in_natural_order_is_lazy(tmp_path):
    frames = frames_u8(n_frames=11)
    for t, image in enumerate(frames):
        iio.imwrite(tmp_path / f"frame{t}.png", image)
    (tmp_path / "readme.txt").write_text("ignored")
    cine = read_cine(tmp_path)
    assert isinstance(cine.frames, FrameSource) and not isinstance(cine.frames, np.ndarray)
    np.testing.assert_array_equal(cine.to_array(), frames)  # frame10 after frame9
    assert cine.bits_stored == 8 and cine.frame_times_s is None and cine.references == ()
    assert not cine.calibration.is_calibrated and cine.transfer_syntax is None
    assert any("in pixels" in w for w in cine.warnings)
    assert any("no frame timing" in w for w in cine.warnings)
    assert cine.name == tmp_path.name


def test_16_bit_tiff_folder_and_grey_rgb_png(tmp_path):
    frames = (frames_u8(3).astype(np.uint16) * 64 + 5).astype(np.uint16)
    tiffs = tmp_path / "tiff"
    tiffs.mkdir()
    for t, image in enumerate(frames):
        tifffile.imwrite(tiffs / f"{t:03d}.tif", image)
    cine = read_cine(tiffs)
    assert cine.frames.dtype == np.uint16 and cine.bits_stored == 16
    np.testing.assert_array_equal(cine.to_array(), frames)
    rgb = tmp_path / "grey_as_rgb.png"
    iio.imwrite(rgb, np.repeat(frames_u8(1)[0][..., None], 3, axis=2))
    np.testing.assert_array_equal(read_cine(rgb).to_array(), frames_u8(1))


def test_multipage_tiff_stack(tmp_path):
    frames = frames_u8(4)
    path = tmp_path / "stack.tiff"
    tifffile.imwrite(path, frames, photometric="minisblack")
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.to_array(), frames)
    assert cine.name == "stack"


def test_lossless_video_round_trips_with_times(tmp_path):
    frames = frames_u8(6)
    path = write_video(tmp_path / "run.mkv", frames, "ffv1", "gray")
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.to_array(), frames)
    np.testing.assert_allclose(cine.frame_times_s, np.arange(6) / 15, atol=2e-3)
    assert cine.frame_rate_hz == pytest.approx(15, rel=0.02)
    assert cine.warnings == (cine.warnings[0],) and "in pixels" in cine.warnings[0]


def test_mp4_video_is_read_as_luminance(tmp_path):
    frames = frames_u8(6, rows=64, columns=64)
    cine = read_cine(write_video(tmp_path / "run.mp4", frames, "libx264", "yuv420p"))
    assert cine.shape == frames.shape and cine.frames.dtype == np.uint8
    assert np.abs(cine.to_array().astype(int) - frames).mean() < 3  # lossy codec


def test_colour_video_warns(tmp_path):
    frames = np.repeat(frames_u8(3, rows=64, columns=64)[..., None], 3, axis=3)
    frames[:, 10:30, 10:30] = (255, 0, 0)  # a red overlay
    cine = read_cine(write_video(tmp_path / "overlay.mkv", frames, "ffv1", "bgr0"))
    assert any("holds colour" in w for w in cine.warnings)


def test_colour_png_is_refused(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 0] = 200
    iio.imwrite(tmp_path / "red.png", image)
    with pytest.raises(InputError, match=r"red\.png is a colour image"):
        read_cine(tmp_path)


def test_images_of_different_sizes_are_refused(tmp_path):
    iio.imwrite(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    iio.imwrite(tmp_path / "b.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(InputError, match=r"differ in size \(8×8 px: 1 files, e\.g\. 'a\.png'; "):
        read_cine(tmp_path)


def test_float_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(InputError, match=r"f\.tif has float32 pixels"):
        read_cine(tmp_path / "f.tif")


def test_damaged_video_is_refused(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(InputError, match=r"broken\.mp4 could not be read as a video"):
        read_cine(path)


@pytest.mark.skipif(not (SHARED / "xca-train").is_dir(), reason="../shared/data is absent")
def test_real_xca_png():
    cine = read_cine(SHARED / "xca-train" / "1.png")
    assert cine.shape == (1, 300, 300) and cine.frames.dtype == np.uint8
