"""Segmentation networks and their bundles: build a network by name, load and save bundles."""

from AngioSegLib.model.bundle import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    MODELS_DIR,
    LoadedModel,
    check_bundle,
    load_bundle,
    make_metadata,
    resolve_bundle,
    save_bundle,
)
from AngioSegLib.model.cenet import build_network
from AngioSegLib.model.normalise import NORMALISATIONS, normalise_frame

__all__ = [
    "DEFAULT_MODEL",
    "MODELS_DIR",
    "MODEL_NAMES",
    "NORMALISATIONS",
    "LoadedModel",
    "build_network",
    "check_bundle",
    "load_bundle",
    "load_model",
    "make_metadata",
    "normalise_frame",
    "resolve_bundle",
    "save_bundle",
]

load_model = load_bundle
