"""Hostile DICOM input: every damaged or self-contradicting XA file is refused with one message
(``angioseg: error: …``, exit code 2) or read with a warning naming the tag; none is read wrongly.

Each case is the project's own phantom (:func:`AngioSegLib.phantom.generator.make_phantom`, 64 × 64
px, 4 frames, written by :func:`AngioSegLib.io.xa_write.write_xa`) edited with pydicom. Values
pydicom refuses to hold (IS "abc", DS "NaN") are written as raw elements.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from cli_helpers import assert_one_line_error, run_cli
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.tag import Tag
from pydicom.uid import generate_uid

from AngioSegLib.errors import InputError
from AngioSegLib.io import read_cine
from AngioSegLib.io.xa import read_xa

N_FRAMES, SIZE = 4, 64


@pytest.fixture(scope="module")
def phantom_xa(tmp_path_factory) -> Path:
    """A valid 4-frame 64 × 64 XA file (12 bits in 16, FrameTime 66.7 ms, CineRate 15)."""
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=1, n_frames=N_FRAMES, size=SIZE))
    return write_xa(run.cine, tmp_path_factory.mktemp("phantom") / "phantom.dcm")


def edited(source: Path, target: Path, edit) -> Path:
    """``source`` with ``edit(ds)`` applied, written to ``target``."""
    ds = pydicom.dcmread(source)
    edit(ds)
    ds.save_as(target, enforce_file_format=False)
    return target


def raw(keyword: str, vr: str, text: str):
    """An edit that stores ``text`` as the raw value of ``keyword`` (even when not valid)."""
    value = (text + " " * (len(text) % 2)).encode("latin-1")
    tag = Tag(keyword)
    element = RawDataElement(tag, vr, len(value), value, 0, False, True)
    return lambda ds: ds.__setitem__(tag, element)


def set_to(**values):
    def edit(ds):
        for keyword, value in values.items():
            setattr(ds, keyword, value)

    return edit


def modality_lut(descriptor):
    def edit(ds):
        item = Dataset()
        item.LUTDescriptor = descriptor
        item.LUTData = np.arange(4096, dtype="<u2").tobytes()
        item.ModalityLUTType = "US"
        ds.ModalityLUTSequence = [item]

    return edit


def transfer_syntax(uid: str):
    return lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", uid)


def longer_pixel_data(ds):
    ds.PixelData = ds.PixelData + bytes(SIZE * SIZE * 2)


# --- 0. the unedited phantom is read without a word ----------------------------------------


def test_the_phantom_itself_reads_cleanly(phantom_xa):
    cine = read_cine(phantom_xa)
    assert cine.shape == (N_FRAMES, SIZE, SIZE) and cine.warnings == ()
    assert cine.frame_rate_hz == pytest.approx(15, rel=1e-3)


# --- 1. impossible header values: refused, never a traceback -------------------------------

REFUSED = {
    "NumberOfFrames abc": (
        raw("NumberOfFrames", "IS", "abc"),
        r"NumberOfFrames \(0028,0008\) 'abc', not a positive whole number",
    ),
    "NumberOfFrames -3": (
        raw("NumberOfFrames", "IS", "-3"),
        r"NumberOfFrames \(0028,0008\) '-3', not a positive whole number",
    ),
    "Rows missing": (lambda ds: delattr(ds, "Rows"), r"has no Rows \(0028,0010\)"),
    "TransferSyntaxUID not a transfer syntax": (
        transfer_syntax("1.2.3.4"),
        r"'1\.2\.3\.4' as its TransferSyntaxUID \(0002,0010\), which is not a DICOM transfer",
    ),
    "Modality LUT descriptor of 2 values": (
        modality_lut([4096, 0]),
        r"LUTDescriptor \(0028,3002\) has 2 values \[4096, 0\], DICOM needs 3",
    ),
    "Modality LUT longer than its descriptor": (
        modality_lut([100, 0, 12]),
        r"LUTData \(0028,3006\) holds 4096 entries, its LUTDescriptor says 100",
    ),
    "Rows smaller than the data": (
        set_to(Rows=SIZE // 2),
        r"Rows 32 × Columns 64 × BitsAllocated 16/8 = 16384 bytes, but the uncompressed pixel "
        r"data holds 32768 bytes",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_impossible_header_values_are_refused(case, phantom_xa, tmp_path):
    edit, message = REFUSED[case]
    path = edited(phantom_xa, tmp_path / "hostile.dcm", edit)
    with pytest.raises(InputError, match=r"hostile\.dcm.*" + message):
        read_cine(path)


@pytest.mark.parametrize(
    "case", ["NumberOfFrames abc", "TransferSyntaxUID not a transfer syntax", "Rows missing"]
)
def test_impossible_header_values_are_one_line_in_the_cli(case, phantom_xa, tmp_path, capsys):
    edit, _ = REFUSED[case]
    path = edited(phantom_xa, tmp_path / "hostile.dcm", edit)
    code, _, err = run_cli(["info", str(path)], capsys)
    assert_one_line_error(code, err, "hostile.dcm")


# --- 2. implausible frame rate and pixel spacing: ignored with a warning --------------------


def test_an_implausible_frame_time_falls_back_to_cine_rate_with_a_warning(phantom_xa, tmp_path):
    path = edited(phantom_xa, tmp_path / "fast.dcm", set_to(FrameTime="1e-300"))
    cine = read_cine(path)
    assert cine.frame_rate_hz == pytest.approx(15)
    assert cine.warnings == (
        "ignored FrameTime (0018,1063): 1e-300 ms (1e+303 frames/s) is outside the plausible "
        "0.5–1000 frames/s",
        "frame times come from CineRate (15 frames/s) instead",
    )


def test_an_implausible_frame_time_alone_leaves_the_run_untimed(phantom_xa, tmp_path):
    def edit(ds):
        ds.FrameTime = "1e-300"
        del ds.CineRate, ds.RecommendedDisplayFrameRate

    cine = read_cine(edited(phantom_xa, tmp_path / "fast.dcm", edit))
    assert cine.frame_times_s is None and cine.frame_rate_hz is None
    assert "1e-300 ms" in cine.warnings[0]
    assert cine.warnings[1].startswith("no usable frame timing in the file")


def test_implausible_frame_rates_everywhere_are_all_named(phantom_xa, tmp_path):
    path = edited(
        phantom_xa,
        tmp_path / "rates.dcm",
        set_to(FrameTime="5000", CineRate=2000, RecommendedDisplayFrameRate=0),
    )
    cine = read_cine(path)
    assert cine.frame_times_s is None
    joined = " | ".join(cine.warnings)
    assert "FrameTime (0018,1063): 5000 ms (0.2 frames/s) is outside" in joined
    assert "CineRate (0018,0040): 2000 frames/s is outside" in joined
    assert "RecommendedDisplayFrameRate (0008,2144): 0 is not a positive frame rate" in joined


def test_an_implausible_pixel_spacing_is_ignored_with_a_warning(phantom_xa, tmp_path):
    path = edited(phantom_xa, tmp_path / "tiny.dcm", set_to(ImagerPixelSpacing=["1e-30", "1e-30"]))
    cine = read_cine(path)
    assert cine.calibration.mm_per_pixel is None and cine.calibration.unit == "px"
    assert cine.warnings[0] == (
        "ignored ImagerPixelSpacing (0018,1164): 1e-30 mm is outside the plausible 0.01–5 mm"
    )
    assert cine.warnings[1].startswith("no usable pixel spacing in the file")
    assert len(cine.warnings) == 2


def test_an_implausible_spacing_falls_back_to_the_next_source(phantom_xa, tmp_path):
    def edit(ds):
        ds.EstimatedRadiographicMagnificationFactor = "1e12"  # → 1e-12 mm at the isocenter
        del ds.DistanceSourceToDetector, ds.DistanceSourceToPatient
        ds.PixelSpacing = ["0.3", "0.3"]

    cine = read_cine(edited(phantom_xa, tmp_path / "mag.dcm", edit))
    assert cine.calibration.mm_per_pixel == pytest.approx(0.3)
    assert cine.warnings[0].startswith(
        "ignored ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor"
    )


# --- 3. unusable FrameTime: the fallback is said, naming the tag and value ------------------


@pytest.mark.parametrize(
    ("text", "shown"), [("0", "0"), ("-33", "-33"), ("NaN", "nan"), ("abc", "'abc'")]
)
def test_an_unusable_frame_time_falls_back_with_a_warning(text, shown, phantom_xa, tmp_path):
    path = edited(phantom_xa, tmp_path / "ft.dcm", raw("FrameTime", "DS", text))
    cine = read_cine(path)
    assert cine.frame_rate_hz == pytest.approx(15)
    assert cine.warnings == (
        f"ignored FrameTime (0018,1063): {shown} is not a positive time (ms)",
        "frame times come from CineRate (15 frames/s) instead",
    )


def test_the_frame_time_warning_is_shown_by_info(phantom_xa, tmp_path, capsys):
    path = edited(phantom_xa, tmp_path / "ft.dcm", raw("FrameTime", "DS", "0"))
    code, out, _ = run_cli(["info", str(path)], capsys)
    assert code in (0, None)
    assert "warning: ignored FrameTime (0018,1063): 0 is not a positive time (ms)" in out


# --- 4. header and pixel data disagree: refused, naming tags and sizes ----------------------

MISMATCHED = {
    "pixel data longer than the frames": (
        longer_pixel_data,
        r"NumberOfFrames 4 × Rows 64 × Columns 64 × BitsAllocated 16/8 = 32768 bytes, but the "
        r"uncompressed pixel data holds 40960 bytes \(5 frames of that size\)",
    ),
    "wrong Columns": (
        set_to(Columns=60),
        r"Columns 60 × BitsAllocated 16/8 = 30720 bytes, but the uncompressed pixel data holds "
        r"32768 bytes",
    ),
    "BitsAllocated 8 on 16-bit data": (
        set_to(BitsAllocated=8, BitsStored=8, HighBit=7),
        r"BitsAllocated 8/8 = 16384 bytes, but the uncompressed pixel data holds 32768 bytes",
    ),
}


@pytest.mark.parametrize("case", MISMATCHED)
def test_header_and_pixel_data_that_disagree_are_refused(case, phantom_xa, tmp_path):
    edit, message = MISMATCHED[case]
    path = edited(phantom_xa, tmp_path / "odd.dcm", edit)
    with pytest.raises(InputError, match=r"odd\.dcm: the header does not match the pixel data: "):
        read_cine(path)
    with pytest.raises(InputError, match=message + r".*check NumberOfFrames, Rows, Columns"):
        read_cine(path)


def test_compressed_pixel_data_larger_than_rows_says_so(phantom_xa, tmp_path):
    """pylibjpeg-rle panics (a BaseException) when the data overruns the frame: caught by name."""
    from AngioSegLib.io.xa_write import write_xa

    cine = read_cine(phantom_xa)
    rle = write_xa(cine, tmp_path / "rle.dcm", transfer_syntax="rle")
    path = edited(rle, tmp_path / "rle_rows.dcm", set_to(Rows=SIZE // 2))
    with pytest.raises(
        InputError,
        match=r"rle_rows\.dcm: frame 1 could not be decoded from its RLE Lossless pixel data: .*"
        r"or its Rows, Columns or BitsAllocated do not describe it",
    ):
        read_cine(path)


def test_a_mismatch_is_one_line_in_the_cli(phantom_xa, tmp_path, capsys):
    path = edited(phantom_xa, tmp_path / "odd.dcm", set_to(BitsAllocated=8, BitsStored=8))
    code, _, err = run_cli(["info", str(path)], capsys)
    assert_one_line_error(code, err, "the header does not match the pixel data")


def test_the_one_padding_byte_of_an_odd_length_is_allowed(phantom_xa, tmp_path):
    frame = np.arange(9, dtype=np.uint8).reshape(3, 3)

    def edit(ds):
        ds.Rows = ds.Columns = 3
        ds.NumberOfFrames = 1
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelData = frame.tobytes()  # 9 bytes: written as 10

    path = edited(phantom_xa, tmp_path / "odd_length.dcm", edit)
    assert pydicom.dcmread(path).get_item("PixelData").length == 10
    np.testing.assert_array_equal(read_cine(path).frame(0), frame)


# --- 5. a DICOMDIR whose files are partly missing ------------------------------------------


def _single_frames(phantom_xa: Path, series_counts: list[int]) -> FileSet:
    """A File-set with one series of single-frame XA instances per entry of ``series_counts``."""
    frames = pydicom.dcmread(phantom_xa).pixel_array
    fileset = FileSet()
    for count in series_counts:
        series = generate_uid()
        for i in range(count):
            ds = pydicom.dcmread(phantom_xa)
            del ds.NumberOfFrames, ds.FrameIncrementPointer, ds.CineRate
            ds.PixelData = frames[i % len(frames)].tobytes()
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.SeriesInstanceUID, ds.InstanceNumber = series, i + 1
            ds.AcquisitionTime = f"1200{i:02d}"
            fileset.add(ds)
    return fileset


def _written(fileset: FileSet, media: Path) -> dict[str, list[Path]]:
    fileset.write(media)
    by_series: dict[str, list[Path]] = {}
    for instance in FileSet(media / "DICOMDIR"):
        by_series.setdefault(instance.SeriesInstanceUID, []).append(Path(instance.path))
    return by_series


def test_a_dicomdir_missing_files_of_the_run_is_refused(phantom_xa, tmp_path):
    media = tmp_path / "media"
    (paths,) = _written(_single_frames(phantom_xa, [8]), media).values()
    assert read_cine(media).n_frames == 8
    for path in sorted(paths)[2:4]:
        path.unlink()
    with pytest.raises(
        InputError, match=r"DICOMDIR lists 8 files for this run but 2 are missing \(e\.g\. .*IM"
    ):
        read_cine(media)


def test_a_dicomdir_missing_files_of_another_series_warns(phantom_xa, tmp_path):
    media = tmp_path / "media"
    first, second = _written(_single_frames(phantom_xa, [4, 2]), media).values()
    with pytest.raises(InputError, match="holds 2 runs"):
        read_cine(media)
    for path in second:
        path.unlink()
    cine = read_cine(media)
    assert cine.n_frames == 4
    assert cine.warnings[-1].startswith(
        "the DICOMDIR lists 2 files of other series that are missing or unreadable"
    )


def test_a_dicomdir_with_an_unreadable_file_of_the_run_is_refused(phantom_xa, tmp_path):
    media = tmp_path / "media"
    (paths,) = _written(_single_frames(phantom_xa, [3]), media).values()
    sorted(paths)[1].write_bytes(b"not DICOM")
    with pytest.raises(InputError, match=r"but 1 is not a readable DICOM file"):
        read_cine(media / "DICOMDIR")


# --- 6. truncated headers and symbolic-link loops ------------------------------------------


def _pixel_data_offset(data: bytes) -> int:
    """Where the (7FE0,0010) Pixel Data tag starts in an explicit-VR little-endian file."""
    offset = data.find(b"\xe0\x7f\x10\x00")
    assert offset > 0
    return offset


def _middle_of_value(path: Path, keyword: str = "StudyInstanceUID") -> int:
    """The byte offset halfway through the value of the UID ``keyword`` in ``path``."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    uid = str((ds.file_meta if keyword.startswith("Media") else ds)[keyword].value).encode()
    return path.read_bytes().index(uid) + len(uid) // 2


@pytest.mark.parametrize(
    "where",
    [
        "MediaStorageSOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "pixel data tag -1",
        "pixel data tag +2",
        "pixel data tag +6",
        "pixel data tag +8",
        "pixel data tag +10",
    ],
)
def test_a_file_cut_inside_its_header_is_called_truncated(where, phantom_xa, tmp_path):
    """Cut inside a value (the middle of a UID, the byte before Pixel Data) or inside Pixel
    Data's own tag, VR and length: never on an element border, which the UIDs' lengths move."""
    data = phantom_xa.read_bytes()
    if where.startswith("pixel data tag"):
        size = _pixel_data_offset(data) + int(where.split()[-1])
    else:
        size = _middle_of_value(phantom_xa, where)
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:size])
    with pytest.raises(InputError, match=r"cut\.dcm is truncated or damaged: the file ends insi"):
        read_cine(path)


def test_a_file_cut_inside_its_header_is_one_line_in_the_cli(phantom_xa, tmp_path, capsys):
    path = tmp_path / "cut.dcm"
    path.write_bytes(phantom_xa.read_bytes()[: _middle_of_value(phantom_xa)])
    code, _, err = run_cli(["info", str(path)], capsys)
    assert_one_line_error(code, err, "cut.dcm is truncated or damaged")


def test_a_folder_with_a_file_cut_inside_its_header_is_refused(phantom_xa, tmp_path):
    (tmp_path / "run.dcm").write_bytes(phantom_xa.read_bytes())
    (tmp_path / "cut.dcm").write_bytes(phantom_xa.read_bytes()[: _middle_of_value(phantom_xa)])
    with pytest.raises(InputError, match=r"cut\.dcm is truncated or damaged"):
        read_cine(tmp_path)


def _symlink_loop(tmp_path: Path) -> Path:
    loop = tmp_path / "loop.dcm"
    os.symlink(tmp_path / "back.dcm", loop)
    os.symlink(loop, tmp_path / "back.dcm")
    return loop


def test_a_symlink_loop_is_named(tmp_path):
    with pytest.raises(InputError, match=r"loop\.dcm is a symbolic link loop"):
        read_xa(_symlink_loop(tmp_path))


def test_a_dangling_symlink_names_its_target(tmp_path):
    link = tmp_path / "link.dcm"
    os.symlink(tmp_path / "gone.dcm", link)
    with pytest.raises(FileNotFoundError, match=r"link\.dcm is a symbolic link to '.*gone\.dcm'"):
        read_xa(link)


def test_a_symlink_loop_is_named_by_read_cine(tmp_path):
    with pytest.raises(InputError, match=r"loop\.dcm is a symbolic link loop"):
        read_cine(_symlink_loop(tmp_path))


# --- lazy frames: files that go away, decoders that disagree, times that are not numbers ---


def test_a_file_removed_after_reading_fails_clearly_when_decoded(phantom_xa, tmp_path):
    path = tmp_path / "gone.dcm"
    path.write_bytes(phantom_xa.read_bytes())
    cine = read_cine(path)  # frames 0 and 3 are decoded now, 1 and 2 on demand
    path.unlink()
    with pytest.raises(InputError, match=r"gone\.dcm can no longer be read .*must stay in place"):
        cine.frame(1)


def test_a_frame_of_another_shape_than_the_header_is_refused():
    from AngioSegLib.io.frames import CachedFrames

    class Wrong(CachedFrames):
        def decode(self, index):
            return np.zeros((2, 2), np.uint8)

    with pytest.raises(InputError, match=r"frame 1 decoded to 2 × 2 pixels, but the header says"):
        Wrong((1, 4, 4), np.uint8)[0]


def test_frame_times_that_are_not_finite_are_refused():
    from AngioSegLib.cine import CineRun

    with pytest.raises(InputError, match=r"frame_times_s must be finite times \(s\), found 1 NaN"):
        CineRun(frames=np.zeros((2, 4, 4), np.uint8), frame_times_s=[0.0, float("nan")])
