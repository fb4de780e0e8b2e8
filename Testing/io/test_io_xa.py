"""`read_cine` on XA DICOM: pixels, lazy frames, timing, calibration, view, references, errors.

Small DICOM files are built here with pydicom (:func:`make_xa`); the real public files in
``../shared/data/xa`` are checked when present.
"""

from __future__ import annotations

import pickle

import numpy as np
import pydicom
import pytest
from dicom_files import (
    CT,
    ENHANCED_XA,
    SECONDARY_CAPTURE,
    SHARED_XA,
    XA,
    make_xa,
    needs_shared,
    phantom_frames,
)
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from AngioSegLib.cine import CalibrationSource, FrameSource
from AngioSegLib.errors import InputError, InputNotFoundError, UnsupportedTransferSyntaxError
from AngioSegLib.io import read_cine


@pytest.fixture
def frames10() -> np.ndarray:
    return phantom_frames(n_frames=5, bits=10)


def test_multiframe_xa_reads_every_field(tmp_path, frames10):
    path = make_xa(
        tmp_path / "run.dcm",
        frames10,
        bits=10,
        FrameTime=66.7,
        ImagerPixelSpacing=[0.2, 0.2],
        EstimatedRadiographicMagnificationFactor=1.25,
        PositionerPrimaryAngle=-32,
        PositionerSecondaryAngle=2,
        DistanceSourceToDetector=1100,
        DistanceSourceToPatient=750,
        RWavePointer=[1, 4],
        PixelIntensityRelationship="LIN",
    )
    cine = read_cine(path)
    assert isinstance(cine.frames, FrameSource) and not isinstance(cine.frames, np.ndarray)
    assert cine.shape == (5, 48, 64) and cine.frames.dtype == np.uint16
    np.testing.assert_array_equal(cine.to_array(), frames10)
    np.testing.assert_allclose(cine.frame_times_s, np.arange(5) * 0.0667)
    assert cine.calibration.mm_per_pixel == pytest.approx(0.16)
    assert cine.calibration.source is CalibrationSource.IMAGER_PIXEL_SPACING_MAGNIFICATION
    assert cine.view.label == "RAO 32° CRA 2°"
    assert cine.view.source_to_detector_mm == 1100 and cine.view.source_to_patient_mm == 750
    assert cine.r_wave_frames == (0, 3)
    assert [r.frame_number for r in cine.references] == [1, 2, 3, 4, 5]
    assert {r.sop_instance_uid for r in cine.references} == {pydicom.dcmread(path).SOPInstanceUID}
    assert cine.references[0].sop_class_uid == XA and cine.references[0].path == path
    assert cine.bits_stored == 10 and cine.transfer_syntax == "Explicit VR Little Endian"
    assert cine.name == "run" and cine.source_path == path and cine.warnings == ()
    assert cine.pixel_intensity_relationship == "LIN"


def test_frames_are_decoded_lazily_with_a_bounded_cache_and_pickle(tmp_path):
    frames = phantom_frames(n_frames=12, bits=8)
    cine = read_cine(make_xa(tmp_path / "run.dcm", frames, FrameTime=33))
    assert set(cine.frames.cached_indices) <= {0, 11}  # only the checked first and last frames
    for t in range(12):
        np.testing.assert_array_equal(cine.frame(t), frames[t])
    assert len(cine.frames.cached_indices) == cine.frames.cache_frames < 12
    changed = cine.frame(3)
    changed[:] = 0  # callers get copies: the cache stays intact
    np.testing.assert_array_equal(cine.frame(3), frames[3])
    np.testing.assert_array_equal(cine.frames[2:5], frames[2:5])
    copy = pickle.loads(pickle.dumps(cine))
    assert copy.frames.cached_indices == ()
    np.testing.assert_array_equal(copy.frame(-1), frames[-1])


@pytest.mark.parametrize(
    ("syntax", "kwargs", "tolerance"),
    [
        (ImplicitVRLittleEndian, {}, 0),
        (DeflatedExplicitVRLittleEndian, {}, 0),
        (RLELossless, {}, 0),
        (JPEGLSLossless, {}, 0),
        (JPEG2000Lossless, {}, 0),
        (JPEGLSNearLossless, {"jls_error": 3}, 3),
        (JPEG2000, {"j2k_psnr": [60]}, 8),
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_compressed_transfer_syntaxes_decode(tmp_path, frames10, syntax, kwargs, tolerance):
    path = make_xa(
        tmp_path / "c.dcm", frames10, bits=10, transfer_syntax=syntax, compress_kwargs=kwargs
    )
    cine = read_cine(path)
    assert cine.transfer_syntax == syntax.name and cine.bits_stored == 10
    error = np.abs(cine.to_array().astype(int) - frames10).max()
    assert error <= tolerance


@pytest.mark.parametrize(
    ("attributes", "mm", "source", "warning"),
    [
        (
            {"ImagerPixelSpacing": [0.3, 0.3], "EstimatedRadiographicMagnificationFactor": 1.5},
            0.2,
            CalibrationSource.IMAGER_PIXEL_SPACING_MAGNIFICATION,
            None,
        ),
        (
            {
                "ImagerPixelSpacing": [0.2, 0.2],
                "DistanceSourceToDetector": 1000,
                "DistanceSourceToPatient": 750,
            },
            0.15,
            CalibrationSource.IMAGER_PIXEL_SPACING_GEOMETRY,
            None,
        ),
        ({"PixelSpacing": [0.25, 0.25]}, 0.25, CalibrationSource.PIXEL_SPACING, None),
        (
            {"ImagerPixelSpacing": [0.2, 0.2]},
            0.2,
            CalibrationSource.IMAGER_PIXEL_SPACING,
            "overestimated",
        ),
        ({"PixelSpacing": [0.2, 0.3]}, 0.25, CalibrationSource.PIXEL_SPACING, "not square"),
        ({}, None, CalibrationSource.NONE, "measurements are in pixels"),
        ({"PixelSpacing": [40, 40]}, None, CalibrationSource.NONE, "ignored PixelSpacing"),
    ],
)
def test_calibration_sources_in_order_of_trust(tmp_path, attributes, mm, source, warning):
    cine = read_cine(
        make_xa(tmp_path / "c.dcm", phantom_frames(2, bits=8), FrameTime=33, **attributes)
    )
    assert cine.calibration.source is source
    assert cine.calibration.mm_per_pixel == (pytest.approx(mm) if mm else None)
    if warning is None:
        assert cine.warnings == ()
    else:
        assert any(warning in w for w in cine.warnings), cine.warnings


@pytest.mark.parametrize(
    ("attributes", "times", "warning"),
    [
        ({"FrameTimeVector": [0, 40, 40, 50]}, [0, 0.04, 0.08, 0.13], None),
        ({"FrameTime": 100}, [0, 0.1, 0.2, 0.3], None),
        ({"CineRate": 25}, [0, 0.04, 0.08, 0.12], None),
        ({"RecommendedDisplayFrameRate": 10}, [0, 0.1, 0.2, 0.3], "display rate"),
        ({}, None, "no frame timing"),
    ],
)
def test_frame_times(tmp_path, attributes, times, warning):
    cine = read_cine(
        make_xa(
            tmp_path / "t.dcm", phantom_frames(4, bits=8), PixelSpacing=[0.2, 0.2], **attributes
        )
    )
    if times is None:
        assert cine.frame_times_s is None and cine.frame_rate_hz is None
    else:
        np.testing.assert_allclose(cine.frame_times_s, times)
    assert [w for w in cine.warnings if warning and warning in w] or (
        warning is None and cine.warnings == ()
    )


def test_monochrome1_is_inverted_to_monochrome2(tmp_path, frames10):
    path = make_xa(tmp_path / "m1.dcm", frames10, bits=10, PhotometricInterpretation="MONOCHROME1",
                   PixelIntensityRelationship="LIN")
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.to_array(), 1023 - frames10)
    assert cine.pixel_intensity_relationship is None  # inverted: no longer proportional


def test_signed_pixels_are_shifted_to_unsigned(tmp_path):
    signed = np.array([[[-512, -1], [0, 511]]], dtype=np.int16)
    path = make_xa(tmp_path / "s.dcm", signed.view(np.uint16), bits=10, PixelRepresentation=1)
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.frame(0), [[0, 511], [512, 1023]])


def test_modality_lut_table_is_applied_and_voi_window_is_not(tmp_path):
    frames = np.array([[[0, 1], [2, 3]]], dtype=np.uint8)
    item = Dataset()
    item.LUTDescriptor = [4, 0, 12]
    item.LUTData = np.array([100, 200, 400, 4000], "<u2").tobytes()
    item.ModalityLUTType = "US"
    path = make_xa(
        tmp_path / "lut.dcm", frames, ModalityLUTSequence=[item], WindowCenter=2, WindowWidth=1
    )
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.frame(0), [[100, 200], [400, 4000]])
    assert cine.bits_stored == 12 and cine.frames.dtype == np.uint16


def test_folder_of_single_frames_is_ordered_by_instance_number(tmp_path):
    frames = phantom_frames(n_frames=4, bits=8)
    names = ["b.dcm", "d.dcm", "a.dcm", "c.dcm"]
    for t, name in enumerate(names):
        make_xa(
            tmp_path / name,
            frames[t : t + 1],
            multiframe=False,
            instance_number=t + 1,
            AcquisitionTime=f"1200{t:02d}.500",
            PixelSpacing=[0.2, 0.2],
        )
    (tmp_path / "notes.txt").write_text("not DICOM, ignored")
    cine = read_cine(tmp_path)
    np.testing.assert_array_equal(cine.to_array(), frames)
    assert [r.path.name for r in cine.references] == names
    assert all(r.frame_number is None for r in cine.references)
    np.testing.assert_allclose(cine.frame_times_s, [0, 1, 2, 3])
    assert cine.name == tmp_path.name and cine.source_path == tmp_path


def test_folder_with_two_runs_lists_them(tmp_path):
    frames = phantom_frames(n_frames=2, bits=8)
    make_xa(tmp_path / "lca.dcm", frames, SeriesDescription="LCA")
    for t in range(2):
        make_xa(
            tmp_path / f"rca{t}.dcm",
            frames[t : t + 1],
            multiframe=False,
            series_uid="1.2.826.0.1.3680043.8.498.3",
            instance_number=t + 1,
        )
    with pytest.raises(
        InputError,
        match=r"holds 2 runs: 'lca.dcm' \(2 frames series 1 LCA\); "
        r"2 single frames .*'rca0.dcm'.*Choose one",
    ):
        read_cine(tmp_path)


def test_dicomdir_is_followed(tmp_path):
    from pydicom.fileset import FileSet

    frames = phantom_frames(n_frames=3, bits=8)
    fileset = FileSet()
    fileset.add(pydicom.dcmread(make_xa(tmp_path / "in.dcm", frames, FrameTime=50)))
    media = tmp_path / "media"
    fileset.write(media)
    for path in (media / "DICOMDIR", media):
        cine = read_cine(path)
        np.testing.assert_array_equal(cine.to_array(), frames)
        assert cine.name == "media" and cine.frame_rate_hz == pytest.approx(20)


def test_enhanced_xa_reads_functional_groups(tmp_path):
    frames = phantom_frames(n_frames=3, bits=8)

    def item(**values) -> Dataset:
        ds = Dataset()
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        return ds

    shared = item(
        FramePixelDataPropertiesSequence=[item(ImagerPixelSpacing=[0.3, 0.3])],
        XRayGeometrySequence=[item(DistanceSourceToDetector=1200, DistanceSourceToIsocenter=800)],
    )
    per_frame = [
        item(
            FrameContentSequence=[item(FrameReferenceDateTime=f"20260101120000.{t * 125:03d}000")],
            PositionerPositionSequence=[
                item(PositionerPrimaryAngle=45, PositionerSecondaryAngle=-20)
            ],
        )
        for t in range(3)
    ]
    path = make_xa(
        tmp_path / "e.dcm",
        frames,
        sop_class=ENHANCED_XA,
        DistanceSourceToPatient=900,
        SharedFunctionalGroupsSequence=[shared],
        PerFrameFunctionalGroupsSequence=per_frame,
    )
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.to_array(), frames)
    assert cine.view.label == "LAO 45° CAU 20°"
    assert cine.calibration.mm_per_pixel == pytest.approx(0.3 * 900 / 1200)
    np.testing.assert_allclose(cine.frame_times_s, [0, 0.125, 0.25], atol=1e-6)


def test_missing_path(tmp_path):
    with pytest.raises(InputNotFoundError, match=r"nope\.dcm does not exist"):
        read_cine(tmp_path / "nope.dcm")


def test_not_dicom(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a DICOM file")
    with pytest.raises(InputError, match=r"notes\.dcm is not a DICOM file.*choose an XA DICOM"):
        read_cine(path)


@pytest.mark.parametrize(
    ("sop_class", "modality", "found"),
    [
        (CT, "CT", r"CT Image Storage \(Modality CT\)"),
        (SECONDARY_CAPTURE, "OT", r"Secondary Capture Image Storage \(Modality OT\)"),
    ],
)
def test_not_angiography_names_what_was_found(tmp_path, sop_class, modality, found):
    path = make_xa(
        tmp_path / "x.dcm",
        phantom_frames(1, bits=8),
        sop_class=sop_class,
        multiframe=False,
        Modality=modality,
    )
    with pytest.raises(InputError, match=found + ", not an X-ray angiography image"):
        read_cine(path)
    with pytest.raises(InputError, match=r"no X-ray angiography images \(found: " + found):
        read_cine(tmp_path)


def test_secondary_capture_with_modality_xa_is_read(tmp_path):
    frames = phantom_frames(1, bits=8)
    path = make_xa(tmp_path / "sc.dcm", frames, sop_class=SECONDARY_CAPTURE, multiframe=False)
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.to_array(), frames)
    assert cine.references[0].frame_number is None


def test_no_pixel_data(tmp_path):
    path = make_xa(tmp_path / "h.dcm", phantom_frames(2, bits=8))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(InputError, match=r"h\.dcm has no pixel data"):
        read_cine(path)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, RLELossless], ids=["native", "rle"])
def test_truncated_pixel_data(tmp_path, syntax):
    path = make_xa(tmp_path / "cut.dcm", phantom_frames(6, bits=8), transfer_syntax=syntax)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(InputError, match=r"cut\.dcm is truncated|cut\.dcm: frame 6 could not"):
        read_cine(path)


def test_colour_is_refused(tmp_path):
    path = make_xa(tmp_path / "rgb.dcm", phantom_frames(1, bits=8))
    ds = pydicom.dcmread(path)
    grey = ds.pixel_array
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = np.repeat(grey[..., None], 3, axis=-1).tobytes()
    ds.save_as(path)
    with pytest.raises(
        InputError, match=r"rgb\.dcm is a colour image \(PhotometricInterpretation RGB"
    ):
        read_cine(path)


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match=r"holds no DICOM files.*PNG/TIFF"):
        read_cine(tmp_path)


@needs_shared
def test_real_rubo_rca_run():
    cine = read_cine(SHARED_XA / "rubo_rca_96f.dcm")
    assert cine.shape == (96, 512, 512) and cine.bits_stored == 8
    assert cine.transfer_syntax == "JPEG Baseline (Process 1)"
    assert cine.r_wave_frames == (19, 52, 76)
    assert cine.pixel_intensity_relationship == "LIN"
    assert cine.view.label == "RAO 32° CRA 2°"
    assert cine.frame_times_s[1] == pytest.approx(0.033)
    assert not cine.calibration.is_calibrated
    assert any("no pixel spacing" in w for w in cine.warnings)
    assert cine.references[95].frame_number == 96
    assert cine.frame(95).mean() < cine.frame(0).mean()  # contrast filled: darker


@needs_shared
def test_real_barre_jpeg_lossless_run():
    from pydicom.pixels import pixel_array

    path = SHARED_XA / "barre_catheter_12f.dcm"
    cine = read_cine(path)
    assert cine.shape == (12, 512, 512) and cine.transfer_syntax.startswith("JPEG Lossless")
    np.testing.assert_array_equal(cine.frame(7), pixel_array(path, index=7))


NEMA = SHARED_XA / "nema_wg04_xa1"


@needs_shared
@pytest.mark.parametrize(
    ("name", "tolerance"),
    [
        ("RLE__XA1_RLE.dcm", 0),
        ("JPLL__XA1_JPLL.dcm", 0),
        ("JLSL__XA1_JLSL.dcm", 0),
        ("J2KR__XA1_J2KR.dcm", 0),
        ("JLSN__XA1_JLSN.dcm", 4),
        ("J2KI__XA1_J2KI.dcm", 16),
    ],
)
def test_real_nema_syntaxes_match_the_uncompressed_reference(name, tolerance):
    reference = read_cine(NEMA / "REF__XA1_UNC.dcm").frame(0).astype(int)
    cine = read_cine(NEMA / name)
    assert cine.shape == (1, 1024, 1024) and cine.bits_stored == 10
    assert np.abs(cine.frame(0).astype(int) - reference).max() <= tolerance


@needs_shared
def test_real_12_bit_jpeg_extended_fails_clearly():
    with pytest.raises(
        UnsupportedTransferSyntaxError,
        match=r"JPLY__XA1_JPLY\.dcm: no installed decoder .* JPEG Extended .*python-gdcm",
    ):
        read_cine(NEMA / "JPLY__XA1_JPLY.dcm")


def test_frame_source_indexing_like_an_array(tmp_path):
    frames = phantom_frames(n_frames=4, bits=8)
    source = read_cine(make_xa(tmp_path / "i.dcm", frames)).frames
    assert source.ndim == 3 and len(source) == 4
    np.testing.assert_array_equal(source[[3, 1]], frames[[3, 1]])
    np.testing.assert_array_equal(source[-1, 5:9, ::2], frames[-1, 5:9, ::2])
    np.testing.assert_array_equal(source[1:3, 0], frames[1:3, 0])
    np.testing.assert_array_equal(np.asarray(source, dtype=float), frames.astype(float))
    with pytest.raises(IndexError, match="frame 4 is outside the run's 4 frames"):
        source[4]


def test_bare_dataset_without_file_meta_is_read(tmp_path):
    frames = phantom_frames(n_frames=3, bits=8)
    ds = pydicom.dcmread(
        make_xa(tmp_path / "meta.dcm", frames, transfer_syntax=ImplicitVRLittleEndian)
    )
    del ds.file_meta
    ds.save_as(tmp_path / "bare.dcm", implicit_vr=True, little_endian=True)
    data = (tmp_path / "bare.dcm").read_bytes()
    assert data[128:132] == b"DICM"
    (tmp_path / "bare.dcm").write_bytes(data[132:])  # drop the preamble too
    assert pydicom.misc.is_dicom(tmp_path / "bare.dcm") is False  # no preamble, no 'DICM'
    cine = read_cine(tmp_path / "bare.dcm")
    np.testing.assert_array_equal(cine.to_array(), frames)
    assert cine.transfer_syntax == "Implicit VR Little Endian"


@pytest.fixture(scope="module")
def phantom_run():
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    return make_phantom(PhantomOptions(seed=1, n_frames=4, size=96))


@pytest.mark.parametrize(
    "syntax", ["explicit", "implicit", "rle", "jpeg-ls", "jpeg2000", "jpeg-baseline"]
)
def test_write_xa_round_trip(tmp_path, phantom_run, syntax):
    from AngioSegLib.io.xa_write import TRANSFER_SYNTAXES, write_xa

    source = phantom_run.cine
    truth = source.to_array()
    cine = read_cine(write_xa(source, tmp_path / "run.dcm", transfer_syntax=syntax))
    assert cine.transfer_syntax == TRANSFER_SYNTAXES[syntax].name
    if syntax == "jpeg-baseline":  # lossy, and the writer keeps the top 8 of the 12 bits
        expected = (truth >> (source.bits_stored - 8)).astype(int)
        error = np.abs(cine.to_array().astype(int) - expected)
        assert cine.bits_stored == 8 and error.mean() < 2.0 and error.max() <= 16, error.max()
    else:
        assert cine.bits_stored == source.bits_stored == 12
        np.testing.assert_array_equal(cine.to_array(), truth)
    np.testing.assert_allclose(cine.frame_times_s, source.frame_times_s, atol=1e-6)
    assert cine.calibration.mm_per_pixel == pytest.approx(source.calibration.mm_per_pixel, 1e-6)
    assert cine.calibration.source is CalibrationSource.IMAGER_PIXEL_SPACING_MAGNIFICATION
    assert cine.view == source.view and cine.r_wave_frames == source.r_wave_frames
    assert cine.warnings == ()


def test_every_writer_syntax_is_covered():
    from AngioSegLib.io.xa_write import TRANSFER_SYNTAXES

    parameters = test_write_xa_round_trip.pytestmark[0].args[1]
    assert sorted(TRANSFER_SYNTAXES) == sorted(parameters)


def test_transfer_syntax_without_any_decoder_is_unsupported(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG4HP41

    path = make_xa(tmp_path / "h264.dcm", phantom_frames(2, bits=8))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.PixelData = encapsulate([b"\x00\x00\x00\x01" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    with pytest.raises(
        UnsupportedTransferSyntaxError,
        match=r"h264\.dcm: pixel data is compressed as MPEG-4 AVC/H\.264 High Profile.*which no "
        r"installed decoder reads; convert",
    ):
        read_cine(path)


def test_damaged_middle_frame_fails_clearly_when_decoded(tmp_path):
    from pydicom.encaps import encapsulate, generate_frames

    frames = phantom_frames(n_frames=3, bits=8)
    path = make_xa(tmp_path / "bad.dcm", frames, transfer_syntax=RLELossless)
    ds = pydicom.dcmread(path)
    fragments = list(generate_frames(ds.PixelData, number_of_frames=3))
    fragments[1] = b"\x05\x00\x00\x00" + bytes(60)  # an RLE header pointing at nothing
    ds.PixelData = encapsulate(fragments)
    ds.save_as(path)
    cine = read_cine(path)  # the first and last frames are fine
    np.testing.assert_array_equal(cine.frame(2), frames[2])
    with pytest.raises(InputError, match=r"bad\.dcm: frame 2 could not be decoded .* RLE Lossless"):
        cine.frame(1)
