"""Training data: real image/mask folders and phantom frames, normalised, with MONAI augmentation.

Every sample is a dict ``{"image": (1, H, W) float32, "label": (1, H, W) float32 {0, 1}}`` whose
image went through :func:`~AngioSegLib.model.normalise.normalise_frame` (with the normalisation
being trained) on the whole frame, as at inference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from AngioSegLib.errors import InputError
from AngioSegLib.model.normalise import DEFAULT_NORMALISATION, normalise_frame

Sample = dict[str, np.ndarray]
PHANTOM_FRAMES_PER_RUN = 4
PHANTOM_SPACING_MM = (0.25, 0.4)  # range of pixel sizes drawn for training phantoms
LESION_BRANCHES = {"left": ("LAD", "LCx", "D1", "OM1"), "right": ("RCA", "RV", "PDA")}
LESION_PERCENT = (20.0, 90.0)  # % diameter of the lesions drawn for training phantoms
LESION_LENGTH_MM = (2.5, 12.0)


def make_sample(
    frame: np.ndarray, mask: np.ndarray, normalisation: str = DEFAULT_NORMALISATION
) -> Sample:
    """A training sample from a raw frame (H, W) and its vessel mask (H, W, nonzero = vessel)."""
    if frame.shape != mask.shape:
        raise InputError(f"frame {frame.shape} and mask {mask.shape} differ in shape")
    return {
        "image": normalise_frame(frame, normalisation)[None],
        "label": (np.asarray(mask) > 0).astype(np.float32)[None],
    }


def load_folder_samples(
    images: Path,
    masks: Path | None = None,
    split: Path | None = None,
    subset: str = "train",
    normalisation: str = DEFAULT_NORMALISATION,
) -> list[Sample]:
    """Samples of a folder of ``N.png`` with masks ``N_gt.png`` (or a masks folder), threshold
    > 127 (a few masks carry anti-aliased grey pixels); only ``subset`` of ``split`` if given."""
    from AngioSegLib.evaluate import pair_images, read_gray, read_split

    names = read_split(split, subset) if split is not None else None
    samples = []
    for pair in pair_images(Path(images), masks, None, names):
        mask = read_gray(pair.mask)
        samples.append(make_sample(read_gray(pair.image), mask > 127, normalisation))
    return samples


def make_phantom_samples(
    n_frames: int, size: int, seed: int, normalisation: str = DEFAULT_NORMALISATION
) -> list[Sample]:
    """``n_frames`` phantom frames (several per simulated run) with their exact vessel masks.

    Runs vary in seed, tree side, pixel size and lesions (see :func:`random_lesions`); the frames
    are taken from the second half of each run, once contrast has filled most of the tree.
    """
    from AngioSegLib.phantom import PhantomOptions, make_phantom

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
                samples.append(make_sample(run.cine.frames[t], run.masks[t], normalisation))
        run_index += 1
    return samples


def random_lesions(tree: str, rng: np.random.Generator):
    """One to three lesions on distinct branches of ``tree``, 20–90 % diameter, 2.5–12 mm long,
    so the network sees tight and long narrowings as well as healthy lumen."""
    from AngioSegLib.phantom import StenosisSpec

    branches = LESION_BRANCHES[tree]
    chosen = rng.choice(branches, size=int(rng.integers(1, 4)), replace=False)
    return tuple(
        StenosisSpec(str(name), float(rng.uniform(*LESION_PERCENT)),
                     float(rng.uniform(*LESION_LENGTH_MM)), float(rng.uniform(0.2, 0.7)))
        for name in chosen
    )


def make_augmentation(crop_size: int, seed: int):
    """MONAI dictionary transforms: pad/crop, flips, rotations, elastic, intensity, gamma, noise."""
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
        SpatialPadd,
    )

    keys = ("image", "label")
    transform = Compose([
        SpatialPadd(keys, spatial_size=(crop_size, crop_size)),
        RandSpatialCropd(keys, roi_size=(crop_size, crop_size), random_size=False),
        RandFlipd(keys, prob=0.5, spatial_axis=0),
        RandFlipd(keys, prob=0.5, spatial_axis=1),
        RandRotate90d(keys, prob=0.5),
        RandAffined(keys, prob=0.3, rotate_range=(0.3,), scale_range=(0.15, 0.15),
                    mode=("bilinear", "nearest"), padding_mode="reflection"),
        Rand2DElasticd(keys, prob=0.1, spacing=(32, 32), magnitude_range=(1.0, 2.0),
                       mode=("bilinear", "nearest"), padding_mode="reflection"),
        RandScaleIntensityd("image", factors=0.2, prob=0.5),
        RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        RandAdjustContrastd("image", gamma=(0.7, 1.5), prob=0.3),
        RandGaussianNoised("image", std=0.03, prob=0.3),
    ])
    transform.set_random_state(seed=seed)
    return transform


def batch_samples(samples: list[Sample]):
    """Stack samples into ``(images, labels)`` float32 tensors (B, 1, H, W)."""
    import torch

    def plain(array) -> torch.Tensor:  # MONAI transforms return MetaTensors
        return torch.as_tensor(np.asarray(array, dtype=np.float32))

    images = torch.stack([plain(s["image"]) for s in samples])
    labels = torch.stack([plain(s["label"]) for s in samples])
    return images, labels
