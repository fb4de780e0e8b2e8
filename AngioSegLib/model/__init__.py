"""Segmentation networks and their bundles: build a network by name, load and save bundles."""

from AngioSegLib.model.bundle import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    MODELS_DIR,
    BundleInfo,
    LoadedModel,
    check_bundle,
    load_bundle,
    make_metadata,
    read_bundle,
    resolve_bundle,
    save_bundle,
)
from AngioSegLib.model.normalise import NORMALISATIONS, normalise_frame

__all__ = [
    "DEFAULT_MODEL",
    "MODELS_DIR",
    "MODEL_NAMES",
    "NORMALISATIONS",
    "BundleInfo",
    "LoadedModel",
    "build_network",
    "check_bundle",
    "load_bundle",
    "load_model",
    "make_metadata",
    "normalise_frame",
    "read_bundle",
    "resolve_bundle",
    "save_bundle",
]

load_model = load_bundle


def __getattr__(name: str):
    """``build_network`` imports torch and MONAI on first use, not with this package: CPU
    inference from a cached ONNX export needs neither (about 0.4 GB of resident memory)."""
    if name == "build_network":
        from AngioSegLib.model.cenet import build_network

        return build_network
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
