"""Model bundles: a trained network with its metadata, in MONAI's bundle layout.

A bundle is a folder ``configs/metadata.json`` + ``models/model.pt`` (a state dict, fp16 to keep
it small) + ``MODEL_CARD.md``. The metadata follows MONAI's bundle specification (``version``,
``network_data_format`` with the input and output contract...) and adds an ``angioseg`` section:
the architecture name, the input normalisation and the pixel spacing the network was trained at.

The input contract is :func:`~AngioSegLib.model.normalise.normalise_frame` with the normalisation
the bundle names, the one function that training and inference both use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.errors import ModelError
from AngioSegLib.model.normalise import (
    DEFAULT_NORMALISATION,
    LEGACY_NORMALISATION,
    normalisation_record,
)

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODEL_NAMES = ("cenet-r34", "cenet-light")
DEFAULT_MODEL = "cenet-light"  # trained weights ship for this one (see its MODEL_CARD.md)
METADATA_FILE = Path("configs") / "metadata.json"
WEIGHTS_FILE = Path("models") / "model.pt"

@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode (fp32, CPU) with its bundle metadata."""

    network: object  # torch.nn.Module, kept untyped so importing this module does not need torch
    metadata: dict
    name: str
    version: str
    input_spacing_mm: float | None
    normalisation: dict
    path: Path | None = None

    @property
    def normalisation_name(self) -> str:
        """The input normalisation the network expects (0.1.0's when the bundle names none)."""
        return (self.normalisation or {}).get("name", LEGACY_NORMALISATION)


def make_metadata(
    name: str,
    version: str = "0.1.0",
    description: str = "",
    input_spacing_mm: float | None = None,
    training: dict | None = None,
    normalisation: str = DEFAULT_NORMALISATION,
) -> dict:
    """MONAI-style metadata of a ``name`` bundle (see the module docstring)."""
    import monai
    import torch

    spatial = ["32*n", "32*n"]
    return {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
                  "0.8.1/meta_schema_20220324.json",
        "version": version,
        "changelog": {version: "first trained release"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": np.__version__,
        "required_packages_version": {},
        "task": "Coronary artery segmentation in X-ray angiography",
        "description": description or f"CE-Net ({name}) vessel segmentation of XA frames",
        "authors": "AngioSeg contributors",
        "copyright": "AngioSeg contributors",
        "references": ["Gu Z. et al., CE-Net: Context Encoder Network for 2D Medical Image "
                       "Segmentation, IEEE TMI 38(10):2281-2292, 2019"],
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "magnitude", "modality": "XA", "num_channels": 1,
                "spatial_shape": spatial, "dtype": "float32", "value_range": [0, 1],
                "is_patch_data": False, "channel_def": {"0": "image"},
            }},
            "outputs": {"pred": {
                "type": "image", "format": "logits", "num_channels": 1,
                "spatial_shape": spatial, "dtype": "float32", "value_range": [],
                "is_patch_data": False, "channel_def": {"0": "vessel"},
            }},
        },
        "angioseg": {
            "name": name,
            "architecture": name,
            "normalisation": normalisation_record(normalisation),
            "input_spacing_mm": input_spacing_mm,
            "training": training or {},
        },
    }


def save_bundle(network, path: str | os.PathLike[str], metadata: dict, force: bool = False,
                model_card: str | None = None) -> Path:
    """Write ``network`` (fp16 state dict) and ``metadata`` as a bundle folder at ``path``."""
    import torch

    from AngioSegLib.io.atomic import atomic_write

    path = Path(path)
    (path / WEIGHTS_FILE).parent.mkdir(parents=True, exist_ok=True)
    (path / METADATA_FILE).parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in
             network.state_dict().items()}
    with atomic_write(path / WEIGHTS_FILE, force=force) as tmp:
        torch.save(state, tmp)
    with atomic_write(path / METADATA_FILE, force=force) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    if model_card is not None:
        with atomic_write(path / "MODEL_CARD.md", force=force) as tmp:
            tmp.write_text(model_card)
    return path


def resolve_bundle(model: str | os.PathLike[str]) -> Path:
    """The bundle folder of a registered name (``MODEL_NAMES``) or of a path."""
    candidate = Path(model)
    if (candidate / METADATA_FILE).is_file():
        return candidate
    if isinstance(model, str) and "/" not in model and os.sep not in model:
        from monai.utils import look_up_option

        try:
            name = look_up_option(model, MODEL_NAMES)
        except ValueError as error:
            raise ModelError(str(error).strip()) from error
        folder = MODELS_DIR / name
        if not (folder / METADATA_FILE).is_file():
            raise ModelError(f"model {name!r} has no trained weights installed at {folder}; "
                             f"train them with 'angioseg train --model {name}' or use "
                             f"{DEFAULT_MODEL!r}")
        return folder
    raise ModelError(f"{model} is not a model bundle: {METADATA_FILE} not found in it")


def load_bundle(model: str | os.PathLike[str]) -> LoadedModel:
    """Load a bundle by registered name or folder: the network in eval mode, fp32, on the CPU."""
    import torch

    from AngioSegLib.model.cenet import build_network

    folder = resolve_bundle(model)
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text())
        section = metadata["angioseg"]
        network = build_network(section["architecture"])
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        network.load_state_dict({k: v.float() if v.is_floating_point() else v
                                 for k, v in state.items()})
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise ModelError(f"cannot load the model bundle at {folder}: {error}") from error
    network.eval()
    spacing = section.get("input_spacing_mm")
    return LoadedModel(
        network=network,
        metadata=metadata,
        name=section.get("name", folder.name),
        version=str(metadata.get("version", "0")),
        input_spacing_mm=None if spacing is None else float(spacing),
        normalisation=section.get("normalisation") or normalisation_record(LEGACY_NORMALISATION),
        path=folder,
    )


def _example_shape(spatial_shape: list, n: int = 2) -> list[int]:
    """A concrete size from a MONAI spatial-shape spec such as ``"32*n"`` (with ``n``)."""
    sizes = []
    for item in spatial_shape:
        if isinstance(item, int):
            sizes.append(item)
        else:
            factor, _, symbol = str(item).partition("*")
            sizes.append(int(factor) * n if symbol else int(factor))
    return sizes


def check_bundle(model: str | os.PathLike[str]) -> LoadedModel:
    """Run the bundle's network on an input built from its declared shapes; check the output.

    Like MONAI's ``verify_net_in_out``: input of the declared channels, dtype and spatial shape
    (``"32*n"`` with n = 2), output must have the declared channels and the same spatial shape
    and be finite. Returns the loaded model; raises :class:`ModelError` on any mismatch.
    """
    import torch

    loaded = load_bundle(model)
    spec = loaded.metadata["network_data_format"]
    spec_in = spec["inputs"]["image"]
    spec_out = spec["outputs"]["pred"]
    spatial = _example_shape(spec_in["spatial_shape"])
    dtype = getattr(torch, spec_in.get("dtype", "float32"))
    low, high = (spec_in.get("value_range") or [0, 1])[:2]
    generator = torch.Generator().manual_seed(0)
    image = low + (high - low) * torch.rand(1, spec_in["num_channels"], *spatial,
                                            generator=generator, dtype=dtype)
    with torch.no_grad():
        output = loaded.network(image)
    expected = (1, spec_out["num_channels"], *spatial)
    if tuple(output.shape) != expected:
        raise ModelError(f"bundle {loaded.name}: output shape {tuple(output.shape)}, "
                         f"expected {expected} from its metadata")
    if not torch.isfinite(output).all():
        raise ModelError(f"bundle {loaded.name}: the network gives non-finite outputs")
    return loaded
