"""The phantom's ground truth agrees with what it renders (its XA files are tested in
Testing/io/test_xa_write.py, `angioseg phantom` in Testing/cli/test_cli_phantom.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.spatial import cKDTree

from AngioSegLib.errors import InputError
from AngioSegLib.phantom.generator import PhantomOptions, StenosisSpec, make_phantom
from AngioSegLib.phantom.tree import build_tree

STILL = dict(motion=False, contrast_inflow=False, noise=False)


@pytest.fixture(scope="module")
def still_run():
    """A motionless, noise-free, fully opacified run: geometry checks need no tolerance for
    motion or the contrast front."""
    return make_phantom(PhantomOptions(seed=4, n_frames=2, size=160, **STILL))


def test_same_seed_same_run_other_seed_other_run():
    options = PhantomOptions(seed=7, n_frames=3, size=64)
    events = []
    first, again = make_phantom(options, progress=events.append), make_phantom(options)
    assert [(e.stage, e.done, e.total) for e in events] == [("phantom", i, 3) for i in (1, 2, 3)]
    other = make_phantom(PhantomOptions(seed=8, n_frames=3, size=64))
    assert np.array_equal(first.cine.frames, again.cine.frames)
    assert np.array_equal(first.masks, again.masks)
    assert np.array_equal(first.displacement, again.displacement)
    assert not np.array_equal(first.masks, other.masks)


def test_small_phantom_contract(small_phantom):
    run = small_phantom
    assert run.cine.frames.shape == run.masks.shape == (6, 128, 128)
    assert run.cine.frames.dtype == np.uint16 and run.cine.bits_stored == 12
    assert run.cine.frames.max() < 4096
    assert run.masks.dtype == np.uint8 and set(np.unique(run.masks)) <= {0, 1}
    assert run.displacement.shape == (6, 128, 128, 2) and run.displacement.dtype == np.float32
    assert len(run.centerlines) == 6 and len(run.stenoses) == 2
    assert np.allclose(np.diff(run.cine.frame_times_s), 1 / 15)
    assert run.cine.calibration.mm_per_pixel == pytest.approx(0.4)
    assert run.cine.view.label == "LAO 30° CRA 20°"
    radii = np.concatenate([line.radius_mm for line in run.centerlines[0]])
    distal = np.array([line.radius_mm[-1] for line in run.centerlines[0]])
    assert radii.max() == 2.0 and np.all((distal >= 0.5) & (distal <= 2.0))


def test_mask_is_the_union_of_tubes_around_the_centerlines(still_run):
    """Every mask pixel lies within its tube, every pixel well inside a tube is in the mask, and
    the mask area matches Σ 2r·length (minus the junction overlaps, plus the end caps)."""
    mm = still_run.options.pixel_mm
    lines = still_run.centerlines[0]
    points = np.concatenate([line.points_rc for line in lines])
    radius_px = np.concatenate([line.radius_mm for line in lines]) / mm
    mask = still_run.masks[0].astype(bool)
    tree = cKDTree(points)
    pixels = np.argwhere(mask)
    near = tree.query_ball_point(pixels, r=radius_px.max() + 1)
    room = np.array(
        [
            np.max(radius_px[i] - np.linalg.norm(points[i] - p, axis=1))
            for p, i in zip(pixels, near, strict=True)
        ]
    )
    assert room.min() > -0.6  # samples are 1 px apart: the tube between them reaches further
    inside = np.zeros_like(mask)
    for line in lines:
        for (r, c), rad in zip(line.points_rc, line.radius_mm / mm, strict=True):
            if rad > 1.5:
                inside[int(round(r)), int(round(c))] = True
    assert mask[inside].all()

    by_name = {line.name: line for line in lines}

    def strip_area(line) -> float:  # ∫ 2r ds along the branch (trapezoids), px²
        steps = np.linalg.norm(np.diff(line.points_rc, axis=0), axis=1)
        return float(np.sum(steps * (line.radius_mm[1:] + line.radius_mm[:-1]))) / mm

    def parent_radius_px(line) -> float:  # the parent's radius where the branch leaves it
        parent = by_name[line.parent]
        k = np.argmin(np.linalg.norm(parent.points_rc - line.points_rc[0], axis=1))
        return parent.radius_mm[k] / mm

    area = sum(strip_area(line) for line in lines)
    overlap = sum(2 * line.radius_mm[0] / mm * parent_radius_px(line) for line in lines[1:])
    ends = [line.radius_mm[-1] for line in lines]  # each branch ends in a half-disc cap
    caps = np.pi / 2 * (np.sum(np.square(ends)) + lines[0].radius_mm[0] ** 2) / mm**2
    assert mask.sum() == pytest.approx(area - overlap + caps, rel=0.03)


def test_stenosis_table_matches_radius_and_mask(still_run):
    mm = still_run.options.pixel_mm
    by_name = {line.name: line for line in still_run.centerlines[0]}
    width_px = 2 * ndimage.distance_transform_edt(still_run.masks[0])
    assert [s.percent_diameter for s in still_run.stenoses] == [50.0, 70.0]
    for lesion in still_run.stenoses:
        line = by_name[lesion.segment]
        assert lesion.mld_mm == pytest.approx(
            (1 - lesion.percent_diameter / 100) * lesion.reference_diameter_mm
        )
        arc = line.arc_length_mm
        at_centre = np.flatnonzero(arc == lesion.position_mm)
        assert 2 * line.radius_mm[at_centre] == pytest.approx([lesion.mld_mm])
        # outside its lesions a branch tapers linearly through the reference diameter
        outside = np.ones(arc.shape, bool)
        for other in (s for s in still_run.stenoses if s.segment == lesion.segment):
            outside &= np.abs(arc - other.position_mm) > other.length_mm / 2
        slope, offset = np.polyfit(arc[outside], line.radius_mm[outside], 1)
        reference = 2 * (slope * lesion.position_mm + offset)
        assert reference == pytest.approx(lesion.reference_diameter_mm, rel=1e-6)
        # the rendered mask's throat is the MLD, to the pixel
        within = np.abs(arc - lesion.position_mm) <= lesion.length_mm / 2
        rc = np.rint(line.points_rc).astype(int)
        throat = width_px[tuple(rc[within].T)].min()
        assert throat * mm == pytest.approx(lesion.mld_mm, abs=2 * mm)


@settings(max_examples=25, deadline=None)
@given(
    percent=st.floats(5.0, 95.0),
    length_mm=st.floats(1.0, 12.0),
    position=st.floats(0.0, 1.0),
    tree=st.sampled_from(["left", "right"]),
)
def test_planted_stenosis_narrows_the_radius_as_tabulated(percent, length_mm, position, tree):
    segment = "LAD" if tree == "left" else "RCA"
    spec = StenosisSpec(segment, percent, length_mm, position)
    rng = np.random.default_rng(0)
    segments, (lesion,), _, _ = build_tree(tree, 100.0, 0.05, (spec,), rng)
    line = next(s for s in segments if s.name == segment)
    arc = line.arc_length_mm
    assert lesion.length_mm <= length_mm and lesion.length_mm <= 0.4 * arc[-1] + 1e-9
    assert lesion.length_mm / 2 <= lesion.position_mm <= arc[-1] - lesion.length_mm / 2
    assert lesion.mld_mm == pytest.approx((1 - percent / 100) * lesion.reference_diameter_mm)
    within = np.abs(arc - lesion.position_mm) <= lesion.length_mm / 2
    # the reference tapers linearly; outside the lesion the radius is the reference itself
    slope, offset = np.polyfit(arc[~within], line.radius_mm[~within], 1)
    reference = slope * arc + offset
    centre = np.flatnonzero(arc == lesion.position_mm)
    assert 2 * reference[centre] == pytest.approx([lesion.reference_diameter_mm], abs=1e-6)
    assert 2 * line.radius_mm[centre] == pytest.approx([lesion.mld_mm], abs=1e-6)
    ratio = line.radius_mm[within] / reference[within]
    assert ratio.min() == pytest.approx(1 - percent / 100, abs=2e-3) and ratio.max() <= 1 + 1e-6


def test_vessels_are_darker_than_their_surroundings(small_phantom):
    for frame, mask in zip(small_phantom.cine.frames, small_phantom.masks, strict=True):
        vessel = mask.astype(bool)
        ring = ndimage.binary_dilation(vessel, iterations=4) & ~ndimage.binary_dilation(vessel)
        assert frame[vessel].mean() < frame[ring].mean() - 100


def test_catheter_is_dark_but_not_in_the_mask():
    run = make_phantom(PhantomOptions(seed=2, n_frames=1, size=128, **STILL))
    plain = make_phantom(PhantomOptions(seed=2, n_frames=1, size=128, catheter=False, **STILL))
    assert np.array_equal(run.masks, plain.masks)
    darker = plain.cine.frames[0].astype(int) - run.cine.frames[0] > 50
    rc = np.rint(run.catheter[0]).astype(int)
    rc = rc[(rc >= 0).all(1) & (rc < 128).all(1)]
    assert darker[tuple(rc.T)].mean() > 0.9
    assert run.catheter_diameter_mm == 2.0


def test_motion_moves_centerlines_with_the_displacement_field(small_phantom):
    run = small_phantom
    assert not run.displacement[0].any()
    assert np.abs(run.displacement[-1]).max() > 1.0
    for t in (2, 5):
        for first, moved in zip(run.centerlines[0], run.centerlines[t], strict=True):
            flow = np.stack(
                [
                    ndimage.map_coordinates(run.displacement[t][..., k], first.points_rc.T, order=1)
                    for k in range(2)
                ],
                axis=1,
            )
            inside = ((first.points_rc >= 0) & (first.points_rc <= 127)).all(1)
            error = np.abs(first.points_rc + flow - moved.points_rc)[inside]
            assert error.max() < 0.05


def test_without_motion_or_inflow_the_masks_do_not_change(still_run):
    assert not still_run.displacement.any()
    assert np.array_equal(still_run.masks[0], still_run.masks[1])


def test_contrast_fills_the_tree_from_the_ostium():
    run = make_phantom(PhantomOptions(seed=1, n_frames=10, size=96, noise=False))
    area = run.masks.reshape(10, -1).sum(1)
    assert 0 < area[0] < 0.5 * area.max()
    assert area[:4].tolist() == sorted(area[:4].tolist())
    ostium = np.rint(run.centerlines[0][0].points_rc[2]).astype(int)
    assert run.masks[0][tuple(ostium)] == 1


def test_right_tree_and_custom_stenosis():
    lesion = StenosisSpec("RCA", 80.0, length_mm=4.0, position=0.5)
    run = make_phantom(
        PhantomOptions(seed=0, n_frames=1, size=96, tree="right", stenoses=(lesion,))
    )
    assert [line.name for line in run.centerlines[0]][0] == "RCA"
    assert len(run.stenoses) == 1 and run.stenoses[0].percent_diameter == 80.0
    assert run.cine.view.label == "LAO 30° CRA 0°"


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(size=8), "size must be between 32 and 4096"),
        (dict(tree="middle"), "tree must be 'left' or 'right'"),
        (dict(stenoses=(StenosisSpec("LDA", 50.0),)), "did you mean 'LAD'"),
        (dict(stenoses=(StenosisSpec("LAD", 120.0),)), r"percent diameter must be in \(0, 95\]"),
    ],
)
def test_bad_options_say_what_was_expected(options, match):
    with pytest.raises(InputError, match=match):
        make_phantom(PhantomOptions(n_frames=1, size=options.pop("size", 64), **options))
