"""Model bundles: a trained network with its metadata, in MONAI's bundle layout.

A bundle is a folder ``configs/metadata.json`` + ``models/model.pt`` (a state dict, fp16 to keep
it small) + ``MODEL_CARD.md``. The metadata follows MONAI's bundle specification (``version``,
``network_data_format`` with the input and output contract...) and adds an ``angioseg`` section:
the architecture name, the input normalisation and the pixel spacing the network was trained at.

The input contract is :func:`~.normalise.normalise_frame` with the normalisation
the bundle names, the one function that training and inference both use.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from AngioSegLib.choices import closest_choice
from AngioSegLib.errors import ModelError
from AngioSegLib.model.normalise import (
    DEFAULT_NORMALISATION,
    LEGACY_NORMALISATION,
    normalisation_record,
)

MODELS_DIR = Path(__file__).resolve().parent / "weights"
MODEL_NAMES = ("cenet-r34", "cenet-light")
DEFAULT_MODEL = "cenet-light"  # trained weights ship for this one (see its MODEL_CARD.md)
METADATA_FILE = Path("configs") / "metadata.json"
WEIGHTS_FILE = Path("models") / "model.pt"
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
BUNDLE_LAYOUT = f"a folder holding {METADATA_FILE.as_posix()} and {WEIGHTS_FILE.as_posix()}"


def normalisation_name(record: dict | None) -> str:
    """The name in a bundle's normalisation record (0.1.0's when the bundle names none)."""
    return (record or {}).get("name", LEGACY_NORMALISATION)


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
        return normalisation_name(self.normalisation)

    @property
    def segment_classes(self) -> int:
        """Classes of the network's coronary-segment head (0: vessels only)."""
        return int(getattr(self.network, "segment_classes", 0))


def make_metadata(
    name: str,
    version: str = "0.1.0",
    description: str = "",
    input_spacing_mm: float | None = None,
    training: dict | None = None,
    normalisation: str = DEFAULT_NORMALISATION,
    segment_classes: int = 0,
) -> dict:
    """MONAI-style metadata of a ``name`` bundle (see the module docstring); a network with a
    coronary-segment head declares a second output, ``segments``, of ``segment_classes``
    channels at 1/4 of the input's size."""
    import monai
    import torch

    outputs = {"pred": {
        "type": "image", "format": "logits", "num_channels": 1,
        "spatial_shape": ["32*n", "32*n"], "dtype": "float32", "value_range": [],
        "is_patch_data": False, "channel_def": {"0": "vessel"},
    }}
    if segment_classes:
        from AngioSegLib.anatomy.segments import SEGMENTS

        channels = {"0": "vessel of no named segment"}
        channels.update({str(s.value): f"SYNTAX {s.syntax} {s.name}" for s in SEGMENTS})
        outputs["segments"] = {
            "type": "image", "format": "logits", "num_channels": segment_classes,
            "spatial_shape": ["8*n", "8*n"], "dtype": "float32", "value_range": [],
            "is_patch_data": False, "channel_def": channels,
        }

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
            "outputs": outputs,
        },
        "angioseg": {
            "name": name,
            "architecture": name,
            "normalisation": normalisation_record(normalisation),
            "input_spacing_mm": input_spacing_mm,
            "segment_classes": segment_classes,
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


def installed_models() -> tuple[str, ...]:
    """Names of the bundles shipped in ``MODELS_DIR`` (e.g. "cenet-light", "cenet-light-syntax":
    a registered architecture's weights, or a variant of one such as a segment-head model)."""
    if not MODELS_DIR.is_dir():
        return ()
    return tuple(sorted(p.name for p in MODELS_DIR.iterdir() if (p / METADATA_FILE).is_file()))


def resolve_bundle(model: str | os.PathLike[str]) -> Path:
    """The bundle folder of a path or of a registered name (``MODEL_NAMES``).

    A folder holding ``configs/metadata.json`` is a bundle, whatever its name (``mybundle`` means
    ``./mybundle`` when that folder exists); else a registered name is the installed bundle of that
    name. Anything else is a :class:`ModelError` that says what was found and what would work.
    """
    candidate = Path(model).expanduser()
    if (candidate / METADATA_FILE).is_file():
        return candidate
    name = os.fspath(model)
    if name in MODEL_NAMES or name in installed_models():
        folder = MODELS_DIR / name
        if not (folder / METADATA_FILE).is_file():
            raise ModelError(f"model {name!r} has no trained weights installed at {folder}; "
                             f"train them with 'angioseg train --model {name}' or use "
                             f"{DEFAULT_MODEL!r}")
        return folder
    if candidate.is_dir():
        if (candidate / WEIGHTS_FILE).is_file():
            found = (f"{WEIGHTS_FILE} is there but {METADATA_FILE} is missing: restore it, or "
                     "write it with AngioSegLib.model.make_metadata naming the architecture")
        else:
            found = f"{METADATA_FILE} not found in it; a bundle is {BUNDLE_LAYOUT}"
        raise ModelError(f"{candidate} is not a model bundle: {found}")
    if candidate.is_file():
        bundle = next((f for f in candidate.parents[:2] if (f / METADATA_FILE).is_file()), None)
        what = f"give its bundle folder {bundle}" if bundle else f"a bundle is {BUNDLE_LAYOUT}"
        raise ModelError(f"{candidate} is a file, not a model bundle folder: {what}")
    if isinstance(model, str) and "/" not in name and os.sep not in name:
        close = closest_choice(name, [*MODEL_NAMES, *installed_models(), *_local_bundles()])
        hint = f" (did you mean {close!r}?)" if close else ""
        shipped = [*MODEL_NAMES, *(m for m in installed_models() if m not in MODEL_NAMES)]
        raise ModelError(f"unknown model {name!r}{hint}: give a registered model "
                         f"({', '.join(shipped)}) or the path of a bundle folder, "
                         f"{BUNDLE_LAYOUT}; there is no folder {name!r} in {Path.cwd()}")
    raise ModelError(f"no model bundle at {candidate}: the folder does not exist")


def _local_bundles(limit: int = 500) -> list[str]:
    """Names of the bundle folders in the current folder (of its first ``limit`` entries)."""
    try:
        entries = list(itertools.islice(Path.cwd().iterdir(), limit))
    except OSError:
        return []
    return sorted(p.name for p in entries if (p / METADATA_FILE).is_file())


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle's metadata says, read without torch (see :func:`read_bundle`)."""

    folder: Path
    metadata: dict
    name: str
    version: str
    architecture: str
    input_spacing_mm: float | None
    normalisation: dict
    segment_classes: int

    @property
    def normalisation_name(self) -> str:
        """The input normalisation the network expects (0.1.0's when the bundle names none)."""
        return normalisation_name(self.normalisation)

    def weights_digest(self) -> str:
        """First 16 hex digits of the SHA-256 of the weights file's bytes (a cache key)."""
        digest = hashlib.sha256()
        try:
            with weights_file(self.folder).open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
        except OSError as error:
            raise _bundle_error(self.folder, f"cannot read {WEIGHTS_FILE}: "
                                             f"{error.strerror or error}") from error
        return digest.hexdigest()[:16]


def read_bundle(model: str | os.PathLike[str]) -> BundleInfo:
    """A bundle's checked metadata by registered name or folder, without loading its weights
    (nor torch): what inference from a cached ONNX export needs. ModelError as
    :func:`load_bundle` for a missing or damaged metadata file."""
    folder = resolve_bundle(model)
    metadata = _read_metadata(folder)
    section = _angioseg_section(folder, metadata)
    spacing = section.get("input_spacing_mm")
    return BundleInfo(
        folder=folder,
        metadata=metadata,
        name=str(section.get("name") or folder.name),
        version=str(metadata.get("version", "0")),
        architecture=section["architecture"],
        input_spacing_mm=None if spacing is None else float(spacing),
        normalisation=section.get("normalisation") or normalisation_record(LEGACY_NORMALISATION),
        segment_classes=int(section.get("segment_classes") or 0),
    )


def load_bundle(model: str | os.PathLike[str] | BundleInfo) -> LoadedModel:
    """Load a bundle by registered name, folder or :class:`BundleInfo`: the network in eval
    mode, fp32, on the CPU.

    Raises :class:`ModelError` in one line when the metadata is missing or not valid JSON, when
    the weights file is empty, damaged or not a state dict, or when the weights do not fit the
    architecture the metadata names (with counts and an example, and the registered architecture
    they do fit, if any).
    """
    from AngioSegLib.model.bundle_weights import load_weights, read_state_dict
    from AngioSegLib.model.cenet import build_network

    info = model if isinstance(model, BundleInfo) else read_bundle(model)
    network = build_network(info.architecture, info.segment_classes)
    load_weights(network, read_state_dict(info.folder), info.folder, info.architecture)
    network.eval()
    return LoadedModel(
        network=network, metadata=info.metadata, name=info.name, version=info.version,
        input_spacing_mm=info.input_spacing_mm, normalisation=info.normalisation,
        path=info.folder,
    )


REDO_WEIGHTS = "copy the bundle again, or re-save the weights with torch.save(network.state_dict())"


def weights_file(folder: Path) -> Path:
    """The bundle's weights file; ModelError in one line when it is missing."""
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise _bundle_error(folder, f"{WEIGHTS_FILE} is missing: the bundle has no weights; "
                                    f"{REDO_WEIGHTS}")
    return path


def _bundle_error(folder: Path, problem: str) -> ModelError:
    """The one-line error of a bundle that cannot be loaded (the files named relative to it)."""
    return ModelError(f"cannot load the model bundle at {folder}: {problem}")


def _read_metadata(folder: Path) -> dict:
    """The JSON object in the bundle's metadata file; ModelError saying why when it is not one."""
    path = folder / METADATA_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise _bundle_error(folder, f"cannot read {METADATA_FILE}: "
                                    f"{error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise _bundle_error(folder, f"{METADATA_FILE} is not UTF-8 text (byte {error.start}): "
                            "it is damaged; restore it from the bundle it came from") from error
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise _bundle_error(folder, f"{METADATA_FILE} is not valid JSON ({error.msg} at line "
                                    f"{error.lineno} column {error.colno}); repair it or restore "
                                    "it from the bundle it came from") from error
    if not isinstance(metadata, dict):
        raise _bundle_error(folder, f"{METADATA_FILE} holds a JSON {type(metadata).__name__}, "
                                    "expected an object (MONAI bundle metadata)")
    return metadata


def _angioseg_section(folder: Path, metadata: dict) -> dict:
    """The metadata's ``angioseg`` section, checked: architecture, normalisation, spacing."""
    section = metadata.get("angioseg")
    if not isinstance(section, dict):
        raise _bundle_error(folder, f"{METADATA_FILE} has no 'angioseg' section (architecture, "
                                    "normalisation, input spacing): not an AngioSeg bundle; "
                                    "write it with AngioSegLib.model.make_metadata")
    architecture = section.get("architecture")
    if not isinstance(architecture, str):
        raise _bundle_error(folder, f"{METADATA_FILE} names no architecture "
                                    f"(angioseg.architecture is {_short(architecture)}); "
                                    f"expected one of {', '.join(MODEL_NAMES)}")
    if architecture not in MODEL_NAMES:
        close = closest_choice(architecture, MODEL_NAMES)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise _bundle_error(folder, f"{METADATA_FILE} names architecture {architecture!r}"
                                    f"{hint}, which this version of AngioSeg does not know; "
                                    f"known: {', '.join(MODEL_NAMES)}")
    normalisation = section.get("normalisation")
    if normalisation is not None and not (isinstance(normalisation, dict)
                                          and isinstance(normalisation.get("name"), str)):
        raise _bundle_error(folder, f"angioseg.normalisation in {METADATA_FILE} is "
                                    f"{_short(normalisation)}, expected an object with a 'name'")
    spacing = section.get("input_spacing_mm")
    if spacing is not None and not (isinstance(spacing, int | float)
                                    and not isinstance(spacing, bool)
                                    and math.isfinite(spacing) and spacing > 0):
        raise _bundle_error(folder, f"angioseg.input_spacing_mm in {METADATA_FILE} is "
                                    f"{_short(spacing)}, expected a positive number (mm) or null")
    return section


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
    where = loaded.path / METADATA_FILE if loaded.path is not None else METADATA_FILE
    try:
        spec = loaded.metadata["network_data_format"]
        spec_in, spec_out = spec["inputs"]["image"], spec["outputs"]["pred"]
        spatial = _example_shape(spec_in["spatial_shape"])
        channels_in, channels_out = int(spec_in["num_channels"]), int(spec_out["num_channels"])
        low, high = (float(v) for v in (spec_in.get("value_range") or [0, 1])[:2])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelError(f"bundle {loaded.name}: network_data_format in {where} lacks or "
                         f"garbles inputs.image / outputs.pred ({type(error).__name__}: "
                         f"{error}); write it with AngioSegLib.model.make_metadata") from error
    dtype_name = spec_in.get("dtype", "float32")
    if dtype_name not in FLOAT_DTYPES:
        raise ModelError(f"bundle {loaded.name}: input dtype {dtype_name!r} in {where}, "
                         f"expected one of {', '.join(FLOAT_DTYPES)}")
    generator = torch.Generator().manual_seed(0)
    image = low + (high - low) * torch.rand(1, channels_in, *spatial, generator=generator,
                                            dtype=getattr(torch, dtype_name))
    try:
        with torch.no_grad():
            output = loaded.network(image)
    except RuntimeError as error:
        first = " ".join(str(error).split())[:200]
        raise ModelError(f"bundle {loaded.name}: the network does not run on the input its "
                         f"metadata declares {tuple(image.shape)}: {first}") from error
    if isinstance(output, tuple):
        output, segments = output
        declared = spec["outputs"].get("segments", {}).get("num_channels")
        quarter = (1, declared, *(n // 4 for n in spatial))
        if tuple(segments.shape) != quarter:
            raise ModelError(f"bundle {loaded.name}: segment output shape "
                             f"{tuple(segments.shape)}, expected {quarter} from its metadata")
    expected = (1, channels_out, *spatial)
    if tuple(output.shape) != expected:
        raise ModelError(f"bundle {loaded.name}: output shape {tuple(output.shape)}, "
                         f"expected {expected} from its metadata")
    if not torch.isfinite(output).all():
        raise ModelError(f"bundle {loaded.name}: the network gives non-finite outputs")
    return loaded
