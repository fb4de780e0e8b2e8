"""Motion-compensated temporal filter (AngioSegLib.temporal.filter) and optical flow
(AngioSegLib.temporal.flow).

Phantoms with known motion are the backbone: a flickering segmenter is simulated by degrading the
true masks independently in each frame (noise, dropouts, spurious blobs), and the filter must
recover the vessels without smearing the ones that move with the heart.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from AngioSegLib.errors import CancelledError, InputError
from AngioSegLib.evaluation.metrics import dice, temporal_flicker
from AngioSegLib.temporal.filter import (
    TemporalOptions,
    TemporalWeights,
    estimate_flows,
    filter_probabilities,
    warp_previous_onto_current,
)

FAST = settings(max_examples=12, deadline=None)


# ---------------------------------------------------------------- helpers (also used by the bench)
def noisy_probabilities(masks: np.ndarray, seed: int) -> np.ndarray:
    """A flickering per-frame segmenter: soft true masks plus independent noise in every frame
    (smooth noise, 6 dropouts that dim a square, 6 spurious blobs), in [0, 1] float32."""
    rng = np.random.default_rng(seed)
    size = masks.shape[1]
    drop, blob = max(4, size // 24), max(2, size // 64)
    out = np.empty(masks.shape, np.float32)
    for t, mask in enumerate(masks):
        p = ndi.gaussian_filter(mask.astype(np.float32), 1.0) * 0.9 + 0.05
        p += 0.35 * ndi.gaussian_filter(rng.normal(0.0, 1.0, mask.shape), 1.5)
        for _ in range(6):
            y, x = rng.integers(0, size, 2)
            p[max(y - drop, 0):y + drop, max(x - drop, 0):x + drop] *= 0.35
        for _ in range(6):
            y, x = rng.integers(0, size, 2)
            p[max(y - blob, 0):y + blob, max(x - blob, 0):x + blob] += 0.6
        out[t] = np.clip(p, 0.0, 1.0)
    return out


def vesselness_probabilities(frames: np.ndarray, percentile: float = 94.0) -> np.ndarray:
    """Per-frame classical vessel probabilities (Sato tubeness, dark ridges, 1.5–3.5 px) standing
    in for the network: p = 0.5 at the run's ``percentile`` of tubeness inside the field of view
    (shrunk by 12 px so that the collimator edge is not a vessel)."""
    from skimage.filters import sato

    tubeness = np.empty(frames.shape, np.float32)
    for t, frame in enumerate(frames):
        image = np.asarray(frame, np.float32)
        image = image / max(float(image.max()), 1.0)
        field = ndi.binary_erosion(ndi.binary_fill_holes(image > 0.06), iterations=12)
        tubeness[t] = sato(image, sigmas=(1.5, 2.5, 3.5), black_ridges=True) * field
    level = np.percentile(tubeness[tubeness > 0], percentile)
    return np.clip(tubeness / (2.0 * level), 0.0, 1.0).astype(np.float32)


def true_displacement(phantom_displacement: np.ndarray, k: int, j: int) -> np.ndarray:
    """d_{k→j} (dy, dx) on frame k's pixels from the phantom's frame-0 displacement D_t(p0):
    the frame-0 point p0 of each pixel q is found by the fixed point p0 = q − D_k(p0)."""
    height, width = phantom_displacement.shape[1:3]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)

    def at(field: np.ndarray, py: np.ndarray, px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(cv2.remap(np.ascontiguousarray(field[..., c]), px, py, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE) for c in (0, 1))

    py, px = ys, xs
    for _ in range(8):
        dy, dx = at(phantom_displacement[k], py, px)
        py, px = ys - dy, xs - dx
    jy, jx = at(phantom_displacement[j], py, px)
    return np.dstack([py + jy - ys, px + jx - xs])


def warp_true(image: np.ndarray, displacement_yx: np.ndarray) -> np.ndarray:
    """``image`` sampled at n + d(n), d given as (dy, dx)."""
    height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(image.astype(np.float32), xs + displacement_yx[..., 1],
                     ys + displacement_yx[..., 0], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def mean_dice(masks: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([dice(m, g) for m, g in zip(masks, truth, strict=True)]))


def texture(size: int, seed: int) -> np.ndarray:
    """A smooth random texture in [0, 1] (something optical flow can lock on to)."""
    noise = np.random.default_rng(seed).random((size, size))
    image = ndi.gaussian_filter(noise, 2.0)
    return ((image - image.min()) / (image.max() - image.min())).astype(np.float32)


def shifted(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``image`` moved by (dy, dx) px: out(n) = image(n − (dy, dx))."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


# ------------------------------------------------------------------------------- phantom accuracy
@pytest.fixture(scope="module")
def moving_phantom():
    """192², 10 frames at 7.5 frames/s (the heart moves ~1–5 px between frames), no inflow."""
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(
        PhantomOptions(seed=0, n_frames=10, size=192, fps=7.5, contrast_inflow=False)
    )
    return run, noisy_probabilities(run.masks, seed=10)


def test_motion_compensation_restores_vessels_and_cuts_flicker(moving_phantom):
    run, probs = moving_phantom
    frames, truth = run.cine.frames, run.masks
    raw = (probs >= 0.5).astype(np.uint8)
    compensated = filter_probabilities(probs, frames, TemporalOptions(k=2))
    plain = filter_probabilities(
        probs, frames, TemporalOptions(k=2, motion_compensation=False, weights="uniform")
    )

    assert mean_dice(compensated.masks, truth) > mean_dice(raw, truth) + 0.02
    assert mean_dice(plain.masks, truth) < mean_dice(raw, truth) - 0.02  # smeared vessels
    assert mean_dice(plain.masks, truth) < mean_dice(compensated.masks, truth) - 0.05
    flows = compensated.flows
    flicker_raw = temporal_flicker(raw, warp_previous_onto_current(raw, flows))
    flicker_mc = temporal_flicker(
        compensated.masks, warp_previous_onto_current(compensated.masks, flows)
    )
    assert flicker_mc <= 0.7 * flicker_raw
    # the same judged along the phantom's true motion, independent of the estimated flow
    moves = [true_displacement(run.displacement, t, t - 1) for t in range(1, len(truth))]

    def true_flicker(masks: np.ndarray) -> float:
        previous = np.stack([warp_true(m, d) for m, d in zip(masks[:-1], moves, strict=True)])
        return temporal_flicker(masks, previous)

    assert true_flicker(compensated.masks) <= 0.7 * true_flicker(raw)


@pytest.mark.parametrize("weights", ["uniform", "gaussian", "reliability"])
def test_every_weighting_beats_the_unfiltered_masks(moving_phantom, weights):
    run, probs = moving_phantom
    result = filter_probabilities(probs, run.cine.frames, TemporalOptions(weights=weights))
    assert mean_dice(result.masks, run.masks) > mean_dice((probs >= 0.5), run.masks)


def test_estimated_flow_follows_the_phantom_heart(moving_phantom):
    run, _ = moving_phantom
    flows = estimate_flows(run.cine.frames)
    vessels = run.masks[4] > 0
    for j in (3, 5, 2, 6):
        truth = true_displacement(run.displacement, 4, j)
        error = np.linalg.norm(flows.displacement_dy_dx(4, j) - truth, axis=-1)[vessels].mean()
        motion = np.linalg.norm(truth, axis=-1)[vessels].mean()
        assert error < 0.6 * motion, (j, error, motion)


def test_reliability_weights_keep_vessels_during_contrast_inflow():
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=1, n_frames=10, size=160, fps=7.5))
    probs = noisy_probabilities(run.masks, seed=11)
    flows = estimate_flows(run.cine.frames)
    dice_of = {
        w: mean_dice(
            filter_probabilities(probs, run.cine.frames, TemporalOptions(weights=w),
                                 flows=flows).masks, run.masks)
        for w in ("uniform", "reliability")
    }
    assert dice_of["reliability"] > dice_of["uniform"]
    assert dice_of["reliability"] > mean_dice(probs >= 0.5, run.masks)


# ---------------------------------------------------------------------------- property tests
@FAST
@given(dy=st.floats(-3.0, 3.0), dx=st.floats(-3.0, 3.0), seed=st.integers(0, 5))
def test_flow_of_a_translated_run_is_the_shift(dy, dx, seed):
    base = texture(112, seed)
    frames = (np.stack([base, shifted(base, dy, dx)]) * 4000).astype(np.uint16)
    flows = estimate_flows(frames)
    inner = (slice(16, -16), slice(16, -16))
    back = np.median(flows.displacement_dy_dx(1, 0)[inner], axis=(0, 1))
    ahead = np.median(flows.displacement_dy_dx(0, 1)[inner], axis=(0, 1))
    np.testing.assert_allclose(back, [-dy, -dx], atol=0.25)
    np.testing.assert_allclose(ahead, [dy, dx], atol=0.25)


def test_chained_flow_of_a_steady_drift_adds_up():
    base = texture(128, 3)
    frames = np.stack([shifted(base, 1.2 * t, -0.8 * t) for t in range(5)])
    flows = estimate_flows(frames)
    inner = (slice(20, -20), slice(20, -20))
    np.testing.assert_allclose(np.median(flows.displacement_dy_dx(4, 2)[inner], axis=(0, 1)),
                               [-2.4, 1.6], atol=0.2)
    np.testing.assert_allclose(np.median(flows.displacement_dy_dx(0, 3)[inner], axis=(0, 1)),
                               [3.6, -2.4], atol=0.3)


@FAST
@given(
    k=st.integers(1, 3),
    weights=st.sampled_from(["uniform", "gaussian", "reliability"]),
    seed=st.integers(0, 100),
)
def test_static_run_is_unchanged_by_motion_compensation(k, weights, seed):
    rng = np.random.default_rng(seed)
    anatomy = texture(64, seed)
    frames = np.stack([anatomy + rng.normal(0, 0.01, anatomy.shape) for _ in range(6)])
    probs = np.stack([ndi.gaussian_filter(rng.random((64, 64)), 2.0) for _ in range(6)])
    probs = np.clip((probs - 0.5) * 4 + 0.5, 0, 1).astype(np.float32)
    options = TemporalOptions(k=k, weights=weights)
    compensated = filter_probabilities(probs, frames, options).probabilities
    plain = filter_probabilities(
        probs, frames, TemporalOptions(k=k, weights=weights, motion_compensation=False)
    ).probabilities
    np.testing.assert_allclose(compensated, plain, atol=0.03)
    assert np.abs(compensated - plain).mean() < 0.005


@FAST
@given(
    n_frames=st.integers(1, 5),
    height=st.integers(16, 40),
    width=st.integers(16, 40),
    k=st.integers(0, 3),
    motion=st.booleans(),
    weights=st.sampled_from(list(TemporalWeights)),
    frame_dtype=st.sampled_from([np.uint8, np.uint16, np.float32]),
    seed=st.integers(0, 1000),
)
def test_output_shape_range_and_inputs_untouched(
    n_frames, height, width, k, motion, weights, frame_dtype, seed
):
    rng = np.random.default_rng(seed)
    probs = rng.random((n_frames, height, width)).astype(np.float32)
    frames = (rng.random((n_frames, height, width)) * 200).astype(frame_dtype)
    probs_before, frames_before = probs.copy(), frames.copy()
    result = filter_probabilities(
        probs, frames, TemporalOptions(k=k, motion_compensation=motion, weights=weights)
    )
    assert result.probabilities.shape == probs.shape
    assert result.probabilities.dtype == np.float32
    assert result.masks.dtype == np.uint8 and set(np.unique(result.masks)) <= {0, 1}
    assert 0.0 <= result.probabilities.min() and result.probabilities.max() <= 1.0
    np.testing.assert_array_equal(probs, probs_before)
    np.testing.assert_array_equal(frames, frames_before)
    np.testing.assert_array_equal(result.masks, result.probabilities >= 0.5)


@FAST
@given(seed=st.integers(0, 1000), motion=st.booleans())
def test_k0_is_the_identity(seed, motion):
    rng = np.random.default_rng(seed)
    probs = rng.random((4, 24, 20)).astype(np.float32)
    result = filter_probabilities(
        probs, rng.random((4, 24, 20)), TemporalOptions(k=0, motion_compensation=motion)
    )
    np.testing.assert_array_equal(result.probabilities, probs)
    assert result.probabilities is not probs
    assert result.flows is None


@pytest.mark.parametrize("weights", ["uniform", "gaussian"])
def test_weights_renormalise_at_the_runs_ends(weights):
    """A probability constant in time stays so, first and last frames included."""
    constant = np.random.default_rng(0).random((1, 32, 32)).astype(np.float32)
    probs = np.repeat(constant, 5, axis=0)
    frames = np.repeat(texture(32, 1)[None], 5, axis=0)
    result = filter_probabilities(probs, frames, TemporalOptions(k=2, weights=weights))
    np.testing.assert_allclose(result.probabilities, probs, atol=1e-5)


def test_gaussian_and_uniform_frame_weights():
    gaussian = TemporalOptions(weights="gaussian", sigma_frames=2.0)
    assert gaussian.frame_weight(0) == 1.0
    assert gaussian.frame_weight(2) == pytest.approx(np.exp(-0.5))
    assert TemporalOptions(weights="uniform").frame_weight(2) == 1.0


def test_plain_average_is_the_running_mean():
    rng = np.random.default_rng(2)
    probs = rng.random((5, 16, 16)).astype(np.float32)
    result = filter_probabilities(
        probs, probs, TemporalOptions(k=1, weights="uniform", motion_compensation=False)
    )
    np.testing.assert_allclose(result.probabilities[0], probs[:2].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result.probabilities[2], probs[1:4].mean(axis=0), rtol=1e-6)


def test_warp_previous_onto_current_undoes_a_translation():
    base = texture(96, 4)
    frames = np.stack([shifted(base, 0.0, 0.0), shifted(base, 2.0, -3.0)])
    flows = estimate_flows(frames)
    warped = warp_previous_onto_current(frames, flows)
    assert warped.shape == (1, 96, 96) and warped.dtype == np.float32
    inner = (slice(12, -12), slice(12, -12))
    assert np.abs(warped[0][inner] - frames[1][inner]).mean() < 0.01
    assert np.abs(frames[0][inner] - frames[1][inner]).mean() > 0.05


class _LazyFrames:
    """A minimal :class:`AngioSegLib.cine.FrameSource` that counts decodes."""

    def __init__(self, frames: np.ndarray):
        self._frames, self.shape, self.dtype, self.decoded = frames, frames.shape, frames.dtype, 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        self.decoded += 1
        return self._frames[index].copy()


def test_lazy_frame_source_gives_the_same_result(moving_phantom):
    run, probs = moving_phantom
    frames, probs = run.cine.frames[:5], probs[:5]
    lazy = _LazyFrames(frames)
    from_lazy = filter_probabilities(probs, lazy)
    from_array = filter_probabilities(probs, frames)
    np.testing.assert_array_equal(from_lazy.probabilities, from_array.probabilities)
    assert lazy.decoded == len(frames)  # each frame read once


def test_flows_are_reused_and_progress_is_reported(moving_phantom):
    run, probs = moving_phantom
    frames, probs = run.cine.frames[:4], probs[:4]
    events = []
    first = filter_probabilities(probs, frames, progress=events.append)
    assert {e.stage for e in events} == {"optical flow", "temporal"}
    assert events[-1].done == events[-1].total == 4
    events.clear()
    again = filter_probabilities(probs, frames, flows=first.flows, progress=events.append)
    assert {e.stage for e in events} == {"temporal"}
    np.testing.assert_array_equal(again.probabilities, first.probabilities)


def test_cancel_from_the_progress_callback_stops_the_filter():
    def cancel(event):
        if event.stage == "temporal":
            raise CancelledError("cancelled by the user")

    probs = np.zeros((3, 32, 32), np.float32)
    with pytest.raises(CancelledError, match="cancelled by the user"):
        filter_probabilities(probs, probs, progress=cancel)


# ----------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "temporal K must be a whole number of frames ≥ 0, found -1"),
        ({"k": 1.5}, "temporal K must be a whole number"),
        ({"weights": "median"},
         "unknown temporal weights 'median': choose one of uniform, gaussian, reliability$"),
        ({"flow_preset": "slow"},
         "unknown optical flow preset 'slow': choose one of ultrafast, fast, medium$"),
        ({"weights": "unifrom"}, "; did you mean 'uniform'\\?$"),
        ({"flow_scale": 2.0}, r"flow scale must be in \(0, 1\], found 2.0"),
        ({"threshold": 1.0}, "threshold must be between 0 and 1, found 1.0"),
        ({"sigma_frames": 0.0}, "sigma_frames must be > 0"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        TemporalOptions(**kwargs)


def test_bad_inputs_are_refused():
    probs = np.zeros((3, 32, 32), np.float32)
    with pytest.raises(InputError, match=r"frames \(3, 32, 30\) and probabilities \(3, 32, 32\)"):
        filter_probabilities(probs, np.zeros((3, 32, 30)))
    with pytest.raises(InputError, match="probabilities must lie in \\[0, 1\\], found values"):
        filter_probabilities(probs + 1.5, probs)
    with pytest.raises(InputError, match="found values from nan"):
        filter_probabilities(np.full_like(probs, np.nan), probs)
    with pytest.raises(InputError, match=r"probabilities need shape \(T, H, W\)"):
        filter_probabilities(probs[0], probs[0])
    with pytest.raises(InputError, match="too small to compare by optical flow"):
        filter_probabilities(np.zeros((3, 8, 8), np.float32), np.zeros((3, 8, 8)))
    flows = estimate_flows(np.zeros((3, 32, 32)))
    with pytest.raises(InputError, match="the flows were estimated for 3 frames of \\(32, 32\\)"):
        filter_probabilities(np.zeros((4, 32, 32), np.float32), np.zeros((4, 32, 32)),
                             flows=flows)


# ------------------------------------------------------------------------------ real cines
@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "first", "stop"),
                         [("rubo_rca_96f.dcm", 40, 56), ("barre_catheter_12f.dcm", 0, 12)])
def test_real_cine_flicker_drops_without_losing_vessels(shared_data, name, first, stop):
    from AngioSegLib.io import read_cine

    path = shared_data / "xa" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    frames = np.asarray(read_cine(path).frames[first:stop])
    probs = vesselness_probabilities(frames)
    raw = (probs >= 0.5).astype(np.uint8)
    result = filter_probabilities(probs, frames)
    flicker_raw = temporal_flicker(raw, warp_previous_onto_current(raw, result.flows))
    flicker = temporal_flicker(result.masks, warp_previous_onto_current(result.masks, result.flows))
    assert flicker <= 0.7 * flicker_raw
    assert abs(int(result.masks.sum()) / int(raw.sum()) - 1.0) <= 0.10


def test_displacement_at_a_few_pixels_is_the_upsampled_field_there():
    """Sampling the flow grid at chosen frame pixels (the segment-name votes do) gives the
    whole-frame upsampled displacement at them, border pixels included."""
    from AngioSegLib.temporal.flow import displacement_at, upsample_displacement

    rng = np.random.default_rng(0)
    grid = np.dstack(np.meshgrid(np.arange(128, dtype=np.float32),
                                 np.arange(96, dtype=np.float32)))
    grid_map = grid + rng.normal(0.0, 2.0, grid.shape).astype(np.float32)
    full = upsample_displacement(grid_map, (384, 512))
    rows = np.r_[rng.integers(0, 384, 500), 0, 383, 0, 383]
    cols = np.r_[rng.integers(0, 512, 500), 0, 511, 511, 0]
    np.testing.assert_allclose(displacement_at(grid_map, (384, 512), rows, cols),
                               full[rows, cols], atol=1e-3)
