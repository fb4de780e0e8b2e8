"""The guiding catheter in a vessel mask: a tube of even width from the top of the field to the
ostium is found and cleared; vessels that leave the field (lower edges, tapering, as wide as the
tree they belong to) are kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from AngioSegLib.segment.catheter import catheter_pixels
from AngioSegLib.segment.segmenter import Segmenter

SIZE = 512


def _tree(mask: np.ndarray) -> None:
    """A left-coronary-like tree drawn into ``mask``: a 9 px wide trunk from the ostium at
    (200, 200) branching into three vessels that taper from 7 to 4 px, one with a side branch."""
    cv2.line(mask, (200, 200), (260, 230), 1, 9)
    for end in ((330, 500), (500, 300), (480, 460)):
        mid = ((260 + end[0]) // 2, (230 + end[1]) // 2)
        cv2.line(mask, (260, 230), mid, 1, 7)
        cv2.line(mask, mid, end, 1, 4)
    cv2.line(mask, (295, 365), (150, 480), 1, 4)


def _tube(mask: np.ndarray, start: tuple[int, int], end: tuple[int, int], width: int) -> None:
    cv2.line(mask, start, end, 1, width)


def test_a_catheter_from_the_top_to_the_ostium_is_found_and_the_tree_kept():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    _tree(mask)
    _tube(mask, (150, 0), (200, 200), 5)  # a 5 px catheter from the top edge to the ostium
    found = catheter_pixels(mask > 0)
    tube = np.zeros_like(mask)
    _tube(tube, (150, 0), (190, 160), 5)  # all but the last radii before the ostium
    assert (found & (tube > 0)).sum() > 0.9 * (tube > 0).sum()
    tree = np.zeros_like(mask)
    _tree(tree)
    assert (found & (tree > 0)).sum() < 0.01 * tree.sum()  # at most the ostium's rim


@pytest.mark.parametrize("start", [(150, SIZE - 1), (SIZE - 1, 380)],
                         ids=["bottom edge", "lower right edge"])
def test_a_tube_leaving_the_field_low_is_a_vessel(start):
    mask = np.zeros((SIZE, SIZE), np.uint8)
    _tree(mask)
    _tube(mask, start, (200, 200), 5)
    assert not catheter_pixels(mask > 0).any()


def test_a_tapering_vessel_from_the_top_edge_is_kept():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    _tree(mask)
    for k, width in enumerate((9, 7, 5, 3)):  # from 9 px at the ostium to 3 px at the edge
        y0, y1 = 200 - 50 * k, 150 - 50 * k
        _tube(mask, (200 - 12 * k, y0), (200 - 12 * (k + 1), max(y1, 0)), width)
    assert not catheter_pixels(mask > 0).any()


def test_a_tube_as_wide_as_its_tree_is_the_proximal_artery_of_a_crop():
    """A cropped angiogram cuts the proximal artery at its top edge: even, straight, from the
    top, but no thinner than the vessels it feeds, so it stays."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    _tree(mask)
    _tube(mask, (150, 0), (200, 200), 9)
    assert not catheter_pixels(mask > 0).any()


def test_a_lone_device_from_the_top_is_cleared_and_a_shutter_edge_counts_as_the_top():
    """A catheter with no vessel yet (a frame before the contrast) is found; under a top
    shutter it enters across the shutter's edge, not the image's."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    field = np.ones((SIZE, SIZE), bool)
    field[:60] = False
    _tube(mask, (150, 62), (230, 330), 7)
    found = catheter_pixels(mask > 0, field)
    assert found.sum() > 0.8 * mask.sum()


@pytest.mark.parametrize("name", ["7", "145"])
def test_the_segmenter_clears_the_catheter_of_a_real_angiogram_and_keeps_its_vessels(
        shared_data, name):
    """ARCADE val angiograms whose contrast-filled catheter the network calls vessel: by default
    the catheter goes (pixels called vessel off the experts' labels), the labelled vessel stays."""
    from AngioSegLib.evaluation.evaluate import read_gray, read_mask

    folder = shared_data / "arcade-syntax" / "val"
    if not (folder / "images" / f"{name}.png").is_file():
        pytest.skip("ARCADE val images are absent")
    frame = read_gray(folder / "images" / f"{name}.png")
    labelled = read_mask(folder / "labels" / f"{name}.png", label_map=True) > 0
    kept = Segmenter("cenet-light", device="cpu", threads=2, clear_catheters=False)
    before = kept.segment_frames(frame[None])[0] >= 0.5
    after = Segmenter("cenet-light", device="cpu", threads=2).segment_frames(frame[None])[0] >= 0.5
    assert not (after & ~before).any()
    assert (before & ~after & ~labelled).sum() > 300  # a catheter's worth of pixels cleared
    assert (after & labelled).sum() >= 0.99 * (before & labelled).sum()

