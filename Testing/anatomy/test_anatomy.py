"""Coronary segments: the SYNTAX table, naming vessel pixels, votes among nearby pixels and over
time, the segment head's network and ONNX contract, label-map I/O and the per-segment F1."""

from __future__ import annotations

import cv2
import nrrd
import numpy as np
import pytest
import torch

from AngioSegLib.anatomy.segments import (
    SEGMENT_CLASSES,
    SEGMENTS,
    colour_table,
    name_vessels,
    segment_at,
    segment_of,
    upsample_classes,
    vote_nearby,
    vote_over_time,
)
from AngioSegLib.errors import InputError
from AngioSegLib.evaluation.metrics import segment_scores
from AngioSegLib.io.labelmap import write_colour_table, write_labelmap_sequence

torch.set_num_threads(2)


def test_the_table_holds_the_25_syntax_segments_with_arcade_values():
    assert [s.value for s in SEGMENTS] == list(range(1, 26))
    assert SEGMENT_CLASSES == 26
    assert segment_of(7).syntax == "7" and segment_of(7).name == "LAD mid"
    assert segment_of(10).syntax == "9a" and segment_of(24).syntax == "12b"
    assert segment_of(0) is None
    assert len({s.syntax for s in SEGMENTS}) == 25
    assert len({s.colour for s in SEGMENTS}) == 25  # every segment its own colour
    assert colour_table()[0].tolist() == [0, 0, 0]
    with pytest.raises(InputError, match="label value 26 is no SYNTAX segment"):
        segment_of(26)


def _y_vessel() -> np.ndarray:
    """A Y: a trunk from the top to the centre, two branches to the bottom corners, 5 px wide."""
    mask = np.zeros((96, 96), np.uint8)
    cv2.line(mask, (48, 2), (48, 48), 1, 5)
    cv2.line(mask, (48, 48), (10, 93), 1, 5)
    cv2.line(mask, (48, 48), (86, 93), 1, 5)
    return mask


def test_each_stretch_takes_the_name_most_of_its_pixels_carry():
    mask = _y_vessel()
    classes = np.zeros_like(mask)
    classes[:48] = 5  # trunk: left main
    classes[48:, :48] = 6  # left branch: LAD proximal
    classes[48:, 48:] = 13  # right branch: circumflex proximal
    rng = np.random.default_rng(0)
    noisy = classes.copy()
    flip = rng.random(mask.shape) < 0.2
    noisy[flip] = rng.integers(1, 26, flip.sum())  # a fifth of the pixels misnamed
    labels = vote_nearby(noisy, mask)
    assert set(np.unique(labels[mask == 0])) == {0}  # nothing named off the vessel
    for value, region in ((5, np.s_[5:40, 40:56]), (6, np.s_[60:90, 10:40]),
                          (13, np.s_[60:90, 56:86])):
        named = labels[region][mask[region] > 0]
        assert (named == value).mean() > 0.95, value


@pytest.mark.parametrize("stub_px, kept", [(10, False), (40, True)])
def test_a_name_on_a_sliver_of_the_vessel_is_withdrawn(stub_px, kept):
    """A side branch named 9 off a vessel named 7: 50 of 2783 vessel pixels (1.8 %, under
    MIN_SEGMENT_SHARE) is the head's noise and takes its neighbour's name; 200 of 2933 stays 9."""
    mask = np.zeros((64, 320), np.uint8)
    cv2.line(mask, (10, 20), (310, 20), 1, 7)
    cv2.line(mask, (160, 20), (160, 20 + stub_px), 1, 3)
    classes = np.where(mask > 0, 7, 0).astype(np.uint8)
    classes[25:] = np.where(mask[25:] > 0, 9, 0)
    labels = vote_nearby(classes, mask)
    stub = mask.astype(bool) & (np.arange(64)[:, None] >= 25)
    if kept:
        assert (labels[stub] == 9).mean() > 0.9 and set(np.unique(labels[stub])) <= {7, 9}
    else:
        assert set(np.unique(labels[stub])) == {7}  # all within reach of the vessel's votes
    main = mask.astype(bool) & ~stub
    main[:, 150:171] = False  # the junction goes with either name
    assert set(np.unique(labels[main])) == {7}


def test_a_name_seen_in_one_frame_only_is_voted_out():
    mask = np.repeat(_y_vessel()[None], 5, axis=0)
    labels = np.where(mask > 0, 7, 0).astype(np.uint8)
    labels[2][mask[2] > 0] = 9  # frame 2 alone says "first diagonal"
    voted = vote_over_time(labels, mask, None, k=2)
    assert set(np.unique(voted[mask > 0])) == {7}
    assert np.array_equal(vote_over_time(labels, mask, None, k=0), labels)


def test_name_vessels_checks_shapes_and_names_only_vessel_pixels():
    mask = np.repeat(_y_vessel()[None], 3, axis=0)
    classes = np.full(mask.shape, 8, np.uint8)
    named = name_vessels(classes, mask, None, 1)
    assert named.dtype == np.uint8 and named.shape == mask.shape
    assert set(np.unique(named[mask == 0])) == {0} and set(np.unique(named[mask > 0])) == {8}
    with pytest.raises(InputError, match="differ in shape"):
        name_vessels(classes[:, :10], mask)


def test_quarter_grid_classes_land_on_their_pixels():
    quarter = np.array([[1, 2], [3, 4]], np.uint8)
    full = upsample_classes(quarter, (8, 8))
    assert full[:4, :4].tolist() == [[1] * 4] * 4 and full[4:, 4:].tolist() == [[4] * 4] * 4


def test_segment_f1_on_hand_made_label_maps():
    reference = np.zeros((10, 10), np.uint8)
    reference[0, :4] = 7  # 4 px of segment 7
    reference[5, :6] = 6  # 6 px of segment 6
    prediction = np.zeros_like(reference)
    prediction[0, :2] = 7  # half of 7 found: F1 = 2·2 / (2 + 4) = 2/3
    prediction[5, :6] = 6  # 6 exact: F1 = 1
    prediction[9, :3] = 9  # a segment the reference does not show: F1 = 0
    scores = segment_scores(prediction, reference)
    assert scores.f1_by_segment == pytest.approx({6: 1.0, 7: 2 / 3, 9: 0.0})
    assert scores.mean_f1 == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert np.isnan(segment_scores(np.zeros_like(reference), np.zeros_like(reference)).mean_f1)
    with pytest.raises(InputError, match="differ in shape"):
        segment_scores(prediction[:5], reference)


def test_anatomy_sequences_keep_their_values_and_colour_table_names(tmp_path):
    labels = np.zeros((3, 16, 20), np.uint8)
    labels[:, 4:8, 2:18] = 7
    labels[1, 10:12, :] = 25
    path = write_labelmap_sequence(labels, tmp_path / "anatomy.seq.nrrd", max_label=25)
    data, _ = nrrd.read(str(path))
    assert np.array_equal(data[..., 0].transpose(0, 2, 1), labels)
    with pytest.raises(InputError, match="whole values 0–1"):
        write_labelmap_sequence(labels, tmp_path / "vessels.seq.nrrd")
    table = write_colour_table({0: ("background", (0, 0, 0)), 7: ("7 LAD mid", (1, 2, 3))},
                               tmp_path / "anatomy.ctbl").read_text().splitlines()
    assert table[-1] == "7 7_LAD_mid 1 2 3 255"


def test_segment_head_gives_quarter_resolution_logits_and_onnx_agrees(tmp_path):
    from AngioSegLib.model import build_network
    from AngioSegLib.model.onnx_backend import OnnxRunner, export_onnx

    network = build_network("cenet-light", SEGMENT_CLASSES).eval()
    x = torch.rand(1, 1, 96, 160)  # the Segmenter pads frames to multiples of 32 px
    with torch.no_grad():
        expected = network(x)
    vessel, segments = expected
    assert vessel.shape == (1, 1, 96, 160)
    assert segments.shape == (1, SEGMENT_CLASSES, 24, 40)
    runner = OnnxRunner(export_onnx(network, tmp_path / "seg.onnx"), threads=1)
    got = runner(x.numpy())
    assert isinstance(got, tuple) and len(got) == 2
    np.testing.assert_allclose(got[0], expected[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(got[1], expected[1].numpy(), atol=1e-3)


def test_segment_head_costs_about_one_percent_of_the_parameters():
    from AngioSegLib.model import build_network

    def count(network) -> int:
        return sum(p.numel() for p in network.parameters())

    plain, named = build_network("cenet-light"), build_network("cenet-light", SEGMENT_CLASSES)
    assert 0 < count(named) - count(plain) < 0.01 * count(plain)


def test_a_lesion_takes_the_segment_around_its_mld_point():
    labels = np.zeros((40, 40), np.uint8)
    labels[18:22, :] = 7  # LAD mid along row 20 ...
    labels[18:22, 19:21] = 0  # ... thinned to nothing at the lesion itself
    labels[30:33, :] = 9  # a diagonal 10 px away
    assert segment_at(labels, 20, 20).syntax == "7"
    assert segment_at(labels, 20, 20, radius_px=0.5) is None
    assert segment_at(labels, 2, 2) is None  # nothing named near
    assert segment_at(labels, 31, 39).name == "First diagonal"


def test_a_stenosis_on_a_vessel_labelled_7_is_reported_as_segment_7():
    from AngioSegLib.anatomy.segments import name_analysis
    from AngioSegLib.outputs.tables import qca_document
    from AngioSegLib.phantom.generator import PhantomOptions, StenosisSpec, make_phantom
    from AngioSegLib.qca.measures import analyze_run

    run = make_phantom(PhantomOptions(seed=3, n_frames=1, size=256, mm_per_pixel=0.2,
                                      motion=False, contrast_inflow=False,
                                      stenoses=(StenosisSpec("LAD", 70.0, 5.0, 0.45),)))
    analysis = analyze_run(run.cine, run.masks.astype(np.float32), run.masks)
    assert analysis.stenoses, "the phantom's 70 % lesion must be listed"
    anatomy = (run.masks * 7).astype(np.uint8)
    named = name_analysis(analysis, anatomy)
    assert {(s.syntax_segment, s.segment_name) for s in named.stenoses} == {("7", "LAD mid")}
    assert {s.syntax_segment for s in named.segments} == {"7"}
    record = qca_document(named)["stenoses"][0]
    assert (record["syntax_segment"], record["segment_name"]) == ("7", "LAD mid")
    assert "LAD mid, segment 7" in named.summary_lines()[1]
    unnamed = name_analysis(analysis, np.zeros_like(anatomy))  # no name: left as it was
    assert {s.syntax_segment for s in unnamed.stenoses} == {None}


@pytest.mark.slow
def test_segment_with_the_segment_model_writes_the_anatomy(tmp_path, capsys):
    import json

    from cli_helpers import run_cli

    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    source = write_xa(make_phantom(PhantomOptions(seed=4, n_frames=4, size=192)).cine,
                      tmp_path / "run.dcm")
    out = tmp_path / "out"
    code, _, err = run_cli(["segment", str(source), "-o", str(out), "--device", "cpu",
                            "--model", "cenet-light-syntax"], capsys)
    assert code == 0, err
    anatomy, _ = nrrd.read(str(out / "anatomy.seq.nrrd"))
    vessels, _ = nrrd.read(str(out / "labels.seq.nrrd"))
    assert anatomy.shape == vessels.shape and anatomy.max() <= 25
    assert not (anatomy[vessels == 0] > 0).any()  # names only on vessel pixels
    assert (anatomy > 0).any()
    assert (out / "anatomy.nii.gz").is_file() and (out / "anatomy.ctbl").is_file()
    for record in json.loads((out / "qca.json").read_text())["stenoses"]:
        assert "syntax_segment" in record and "segment_name" in record
    assert "Coronary segments" in (out / "report.html").read_text()
