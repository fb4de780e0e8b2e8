"""Training data: real image/mask folders, ARCADE label maps and phantom frames, with MONAI
augmentation.

Every sample is a dict ``{"image": (1, H, W) float32, "label": (1, H, W) float32 {0, 1},
"weight": (1, H, W) float32 {0, 1}, "segments": (1, H, W) float32 class, "frame": (H, W) raw frame,
"source": name}`` whose image went through :func:`~AngioSegLib.model.normalise.normalise_frame`
(with the normalisation being trained) on the whole frame, as at inference. ``weight`` is 0 where
the label is not to be trusted (see :func:`partial_label_weight`); the loss ignores those pixels.
``segments`` is the coronary-segment target of the segment head
(:mod:`AngioSegLib.anatomy.segments`: ARCADE's label value inside its polygons, class 0 on vessels
nobody named, and ``IGNORE_CLASS`` elsewhere and on every XCA and phantom sample; see
:func:`segment_target`).

Each draw (:func:`draw_sample`) may render guidewires (:mod:`AngioSegLib.phantom.devices`) and a
random collimation (:mod:`AngioSegLib.phantom.collimation`) onto the raw frame first and then
normalises it again, so the network sees wires, shutters, graded edges, wedges and borders that are
no vessel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from AngioSegLib.anatomy.segments import IGNORE_CLASS
from AngioSegLib.choices import Choice, parse_choice
from AngioSegLib.errors import InputError
from AngioSegLib.model.normalise import DEFAULT_NORMALISATION, normalise_frame

Sample = dict[str, np.ndarray]
PHANTOM_FRAMES_PER_RUN = 4
PHANTOM_SPACING_MM = (0.25, 0.4)  # range of pixel sizes drawn for training phantoms
LESION_BRANCHES = {"left": ("LAD", "LCx", "D1", "OM1"), "right": ("RCA", "RV", "PDA")}
LESION_PERCENT = (20.0, 90.0)  # % diameter of the lesions drawn for training phantoms
LESION_LENGTH_MM = (2.5, 12.0)


class TrainingSource(Choice):
    """Where training samples come from."""

    ARCADE = "arcade"
    XCA = "xca"
    PHANTOM = "phantom"


class PartialLabelRule(Choice):
    """How ARCADE's partial labels weigh unlabelled pixels (:func:`partial_label_weight`)."""

    BAND = "band"
    TEACHER = "teacher"


SOURCES = tuple(TrainingSource)
PARTIAL_LABELS = tuple(PartialLabelRule)
IGNORE_BAND_PX = 4  # px at 512²: ARCADE's polygons are coarser than the lumen edge ...
IGNORE_INNER_PX = 3  # ... on both sides: the lumen edge is taught by XCA's masks and phantoms
TEACHER_LEVEL = 0.5  # teacher probability above which an unlabelled pixel is ignored
TEACHER_GROW_PX = 2
TEACHER_BORDER_PX = 8  # along the image border the teacher's vessels are taught as background
COLLIMATION_PROBABILITY = 0.35
WIRE_PROBABILITY = 0.25  # share of draws with guidewires
CATHETER_PROBABILITY = 0.0  # share of draws with a catheter (off: see cli/train.py --catheters)


def make_sample(
    frame: np.ndarray, mask: np.ndarray, normalisation: str = DEFAULT_NORMALISATION,
    weight: np.ndarray | None = None, source: str = "xca", segments: np.ndarray | None = None,
) -> Sample:
    """A training sample from a raw frame (H, W), its vessel mask (H, W, nonzero = vessel), an
    optional loss weight (H, W; None = trust every pixel) and segment target (H, W; None =
    ignored everywhere)."""
    if frame.shape != mask.shape:
        raise InputError(f"frame {frame.shape} and mask {mask.shape} differ in shape")
    label = (np.asarray(mask) > 0).astype(np.float32)[None]
    if segments is None:
        segments = np.full(frame.shape, IGNORE_CLASS)
    return {
        "image": normalise_frame(frame, normalisation)[None],
        "label": label,
        "weight": np.ones_like(label) if weight is None else weight.astype(np.float32)[None],
        "segments": np.asarray(segments, np.float32)[None],
        "frame": np.asarray(frame),
        "source": source,
    }


def segment_target(label_map: np.ndarray, teacher: np.ndarray | None = None,
                   band_px: int = IGNORE_BAND_PX) -> np.ndarray:
    """(H, W) uint8 target of the segment head from an ARCADE label map (H, W; 0 or a segment
    value): the value inside each polygon; class 0 ("no named segment") where the ``teacher``
    probability (H, W) calls vessel more than ``band_px`` from every polygon and off the border
    strip (the visible branches nobody named); ``IGNORE_CLASS`` elsewhere."""
    import cv2

    label_map = np.asarray(label_map)
    target = np.where(label_map > 0, label_map, IGNORE_CLASS).astype(np.uint8)
    if teacher is not None:
        near = cv2.dilate((label_map > 0).astype(np.uint8), _disk(band_px)) > 0
        unnamed = (np.asarray(teacher) > TEACHER_LEVEL) & ~near
        b = TEACHER_BORDER_PX
        unnamed[:b], unnamed[-b:], unnamed[:, :b], unnamed[:, -b:] = False, False, False, False
        target[unnamed] = 0
    return target


def _disk(radius_px: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))


def partial_label_weight(label: np.ndarray, band_px: int = IGNORE_BAND_PX,
                         teacher: np.ndarray | None = None,
                         inner_px: int = IGNORE_INNER_PX) -> np.ndarray:
    """(H, W) float32 loss weight of a partial label (H, W, nonzero = labelled vessel).

    0 (ignored) on a band around each labelled vessel's edge (``inner_px`` inside to ``band_px``
    outside: the polygons are coarser than the lumen, whose edge the full masks teach; a thin
    polygon keeps its centre line) and, given a ``teacher`` probability (H, W), on every
    unlabelled pixel the teacher calls vessel (grown by ``TEACHER_GROW_PX``): the visible small
    branches and vessels nobody labelled are not taught as background, except within
    ``TEACHER_BORDER_PX`` of the image border, where a teacher's "vessel" is its border error.
    1 elsewhere.
    """
    import cv2

    vessel = (np.asarray(label) > 0).astype(np.uint8)
    from skimage.morphology import skeletonize

    core = cv2.erode(vessel, _disk(inner_px)) | skeletonize(vessel > 0).astype(np.uint8)
    ignore = cv2.dilate(vessel, _disk(band_px)) - core  # a thin polygon keeps its centre line
    if teacher is not None:
        unlabelled = ((np.asarray(teacher) > TEACHER_LEVEL) & (vessel == 0)).astype(np.uint8)
        grown = cv2.dilate(unlabelled, _disk(TEACHER_GROW_PX)) & (1 - vessel)
        grown[:TEACHER_BORDER_PX], grown[-TEACHER_BORDER_PX:] = 0, 0  # a teacher's border
        grown[:, :TEACHER_BORDER_PX], grown[:, -TEACHER_BORDER_PX:] = 0, 0  # strip is no vessel
        ignore |= grown
    return (ignore == 0).astype(np.float32)


def load_label_map_samples(
    folder: Path, normalisation: str = DEFAULT_NORMALISATION, limit: int | None = None,
    partial: str = "band", teacher=None, progress=None,
) -> list[Sample]:
    """Samples of an ARCADE-style folder: ``images/N.png`` and ``labels/N.png`` (label maps, any
    value > 0 is vessel), the first ``limit`` in natural order. The labels are partial
    (:func:`partial_label_weight`, ``partial`` one of :data:`PARTIAL_LABELS`; "teacher" needs
    ``teacher``, a :class:`~AngioSegLib.segment.segmenter.Segmenter`)."""
    from AngioSegLib.io.datasets import pair_images
    from AngioSegLib.io.images import read_grey
    from AngioSegLib.progress import Progress

    partial = parse_choice(partial, PartialLabelRule, "partial-label rule")
    if partial == "teacher" and teacher is None:
        raise InputError("the 'teacher' partial-label rule needs a teacher model")
    folder = Path(folder)
    pairs = pair_images(folder / "images", folder / "labels")[:limit]
    samples = []
    for k, pair in enumerate(pairs):
        frame, label_map = read_grey(pair.image), read_grey(pair.mask)
        prediction = None if teacher is None else teacher.segment_frames(frame[None])[0]
        used = prediction if partial == "teacher" else None
        label = label_map > 0
        weight = partial_label_weight(label, teacher=used)
        samples.append(make_sample(frame, label, normalisation, weight, "arcade",
                                   segment_target(label_map, used)))
        if progress is not None:
            progress(Progress("load", k + 1, len(pairs), f"{folder.name} {pair.image.name}"))
    return samples


def load_folder_samples(
    images: Path,
    masks: Path | None = None,
    split: Path | None = None,
    subset: str = "train",
    normalisation: str = DEFAULT_NORMALISATION,
) -> list[Sample]:
    """Samples of a folder of ``N.png`` with masks ``N_gt.png`` (or a masks folder), threshold
    > 127 (a few masks carry anti-aliased grey pixels); only ``subset`` of ``split`` if given."""
    from AngioSegLib.io.datasets import pair_images, read_split
    from AngioSegLib.io.images import read_grey

    names = read_split(split, subset) if split is not None else None
    samples = []
    for pair in pair_images(Path(images), masks, None, names):
        mask = read_grey(pair.mask)
        samples.append(make_sample(read_grey(pair.image), mask > 127, normalisation, None, "xca"))
    return samples


def make_phantom_samples(
    n_frames: int, size: int, seed: int, normalisation: str = DEFAULT_NORMALISATION
) -> list[Sample]:
    """``n_frames`` phantom frames (several per simulated run) with their exact vessel masks.

    Runs vary in seed, tree side, pixel size and lesions (see :func:`random_lesions`); the frames
    are taken from the second half of each run, once contrast has filled most of the tree.
    """
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    run_index = 0
    while len(samples) < n_frames:
        tree = ("left", "right")[run_index % 2]
        options = PhantomOptions(
            seed=seed * 100_003 + run_index,
            n_frames=2 * PHANTOM_FRAMES_PER_RUN,
            size=size,
            tree=tree,
            stenoses=random_lesions(tree, rng),
            mm_per_pixel=float(rng.uniform(*PHANTOM_SPACING_MM)),
            photons_per_pixel=float(rng.uniform(500.0, 3000.0)),
        )
        run = make_phantom(options)
        for t in range(PHANTOM_FRAMES_PER_RUN, 2 * PHANTOM_FRAMES_PER_RUN):
            if len(samples) < n_frames:
                samples.append(make_sample(run.cine.frames[t], run.masks[t], normalisation,
                                           None, "phantom"))
        run_index += 1
    return samples


def random_lesions(tree: str, rng: np.random.Generator):
    """One to three lesions on distinct branches of ``tree``, 20–90 % diameter, 2.5–12 mm long,
    so the network sees tight and long narrowings as well as healthy lumen."""
    from AngioSegLib.phantom.generator import StenosisSpec

    branches = LESION_BRANCHES[tree]
    chosen = rng.choice(branches, size=int(rng.integers(1, 4)), replace=False)
    return tuple(
        StenosisSpec(str(name), float(rng.uniform(*LESION_PERCENT)),
                     float(rng.uniform(*LESION_LENGTH_MM)), float(rng.uniform(0.2, 0.7)))
        for name in chosen
    )


def draw_sample(sample: Sample, rng: np.random.Generator, normalisation: str,
                collimation_probability: float = COLLIMATION_PROBABILITY,
                wire_probability: float = WIRE_PROBABILITY,
                catheter_probability: float = CATHETER_PROBABILITY) -> Sample:
    """``sample``'s image, label and weight, its raw frame first drawn on with probability
    ``wire_probability`` one or two guidewires and with ``catheter_probability`` a catheter
    (:mod:`AngioSegLib.phantom.devices`; the device's pixels off the labelled vessels are certain
    background: weight 1) and with probability
    ``collimation_probability`` a random collimation (its pixels are certain background too),
    then normalised again."""
    from AngioSegLib.phantom.collimation import collimate, random_collimation
    from AngioSegLib.phantom.devices import add_wire, random_catheter, random_wire

    out = {"image": sample["image"], "label": sample["label"], "weight": sample["weight"],
           "segments": sample["segments"]}
    frame, label, weight = sample["frame"], sample["label"][0], sample["weight"][0]
    segments = sample["segments"][0]
    devices = []
    if rng.random() < wire_probability:
        devices += [random_wire(rng) for _ in range(int(rng.integers(1, 3)))]
    if rng.random() < catheter_probability:
        devices.append(random_catheter(rng))
    for device in devices:
        frame, covered = add_wire(frame, device)
        weight = np.where(covered & (label == 0), 1.0, weight).astype(np.float32)
    changed = bool(devices)
    if rng.random() < collimation_probability:
        frame, label, field = collimate(frame, label, random_collimation(rng), rng)
        weight = np.maximum(weight, (~field).astype(np.float32))
        segments = np.where(field, segments, IGNORE_CLASS).astype(np.float32)
        changed = True
    if changed:
        out = {"image": normalise_frame(frame, normalisation)[None], "label": label[None],
               "weight": weight[None], "segments": segments[None]}
    return out


def make_augmentation(crop_size: int, seed: int, flips: bool = True):
    """MONAI dictionary transforms: scale 0.6–1.6, pad/crop, flips and quarter turns (unless
    ``flips`` is off: a segment head learns which side of the heart a vessel lies on), small
    rotations, elastic, intensity, gamma, noise; ``label``, ``weight`` and ``segments`` follow
    the image (nearest)."""
    from monai.transforms import (
        Compose,
        Rand2DElasticd,
        RandAdjustContrastd,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
        RandRotate90d,
        RandScaleIntensityd,
        RandShiftIntensityd,
        RandSpatialCropd,
        RandZoomd,
        SpatialPadd,
    )

    keys = ("image", "label", "weight", "segments")
    nearest = ("bilinear", "nearest", "nearest", "nearest")
    turns = [RandFlipd(keys, prob=0.5, spatial_axis=0), RandFlipd(keys, prob=0.5, spatial_axis=1),
             RandRotate90d(keys, prob=0.5)] if flips else []
    transform = Compose([
        RandZoomd(keys, prob=0.5, min_zoom=0.6, max_zoom=1.6,
                  mode=("area", "nearest", "nearest", "nearest"), padding_mode="reflect",
                  keep_size=False),
        # mirrored (numpy's "symmetric" pads by any amount; torch's "reflect" refuses to pad
        # an image zoomed out below half the crop, such as a 256 px phantom into a 512 crop)
        SpatialPadd(keys, spatial_size=(crop_size, crop_size), mode="symmetric"),
        RandSpatialCropd(keys, roi_size=(crop_size, crop_size), random_size=False),
        *turns,
        RandAffined(keys, prob=0.3, rotate_range=(0.3,), scale_range=(0.1, 0.1),
                    mode=nearest, padding_mode="reflection"),
        Rand2DElasticd(keys, prob=0.1, spacing=(32, 32), magnitude_range=(1.0, 2.0),
                       mode=nearest, padding_mode="reflection"),
        RandScaleIntensityd("image", factors=0.2, prob=0.5),
        RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        RandAdjustContrastd("image", gamma=(0.7, 1.5), prob=0.3),
        RandGaussianNoised("image", std=0.03, prob=0.3),
    ])
    transform.set_random_state(seed=seed)
    return transform


def batch_samples(samples: list[Sample]):
    """Stack samples into ``(images, labels, weights)`` float32 tensors (B, 1, H, W) and the
    segment targets (B, H, W) int64."""
    import torch

    def plain(array) -> torch.Tensor:  # MONAI transforms return MetaTensors
        return torch.as_tensor(np.asarray(array, dtype=np.float32))

    images = torch.stack([plain(s["image"]) for s in samples])
    labels = torch.stack([plain(s["label"]) for s in samples])
    weights = torch.stack([plain(s["weight"]) for s in samples])
    segments = torch.stack([plain(s["segments"])[0] for s in samples]).round().long()
    return images, labels, weights, segments
