"""A bundle's weights file read and fitted to its network, with one-line errors that say what
is wrong: an empty, truncated or foreign file, a training checkpoint instead of a state dict,
or weights of another architecture (counts, an example, and the architecture they do fit)."""

from __future__ import annotations

from pathlib import Path

from AngioSegLib.model.bundle import (
    METADATA_FILE,
    MODEL_NAMES,
    REDO_WEIGHTS,
    WEIGHTS_FILE,
    _bundle_error,
    _short,
    weights_file,
)


def read_state_dict(folder: Path) -> dict:
    """The tensors in the bundle's weights file; ModelError saying why when it is empty, damaged
    or not a state dict (``torch.load`` raises a different error for each kind of damage)."""
    import pickle
    import zipfile

    import torch

    path = weights_file(folder)
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
    except OSError as error:
        raise _bundle_error(folder, f"cannot read {WEIGHTS_FILE}: "
                                    f"{error.strerror or error}") from error
    if not head:
        raise _bundle_error(folder, f"{WEIGHTS_FILE} is empty (0 bytes): it was not written "
                                    f"completely; {REDO_WEIGHTS}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError, ValueError, KeyError,
            IndexError, TypeError, AttributeError, zipfile.BadZipFile) as error:
        if isinstance(error, pickle.UnpicklingError) and zipfile.is_zipfile(path):
            why = "it holds Python objects besides tensors (a whole pickled model?)"
        elif head.startswith(b"PK"):
            why = "its zip archive is truncated or damaged"
        else:
            why = f"not a PyTorch file (it starts with the bytes {head.hex(' ')})"
        raise _bundle_error(folder, f"{WEIGHTS_FILE} is damaged or not a PyTorch state dict: "
                                    f"{why}; {REDO_WEIGHTS}") from error
    if not isinstance(state, dict) or not state:
        found = "an empty dict" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise _bundle_error(folder, f"{WEIGHTS_FILE} holds {found}, not a PyTorch state dict "
                                    f"(tensor names → tensors); {REDO_WEIGHTS}")
    others = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if others:
        raise _bundle_error(folder, f"{WEIGHTS_FILE} is not a PyTorch state dict: {len(others)} "
                                    f"of its {len(state)} entries are not tensors (e.g. "
                                    f"{_short(others[0])}); a training checkpoint? save its "
                                    "network's state_dict() instead")
    return state


def _shape(shape) -> str:
    return "×".join(map(str, shape)) or "scalar"


def _mismatch(expected: dict, state: dict) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, other-shape) tensor names of ``state`` against ``expected``."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [key for key in expected
                if key in state and tuple(state[key].shape) != tuple(expected[key])]
    return missing, unexpected, reshaped


def _architecture_shapes(name: str) -> dict:
    """Tensor name → shape of the ``name`` network, built on the meta device (no memory)."""
    import torch

    from AngioSegLib.model.cenet import build_network

    with torch.device("meta"):
        network = build_network(name)
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def load_weights(network, state: dict, folder: Path, architecture: str) -> None:
    """Load ``state`` into ``network`` (fp32); one-line ModelError when they do not fit."""
    expected = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    missing, unexpected, reshaped = _mismatch(expected, state)
    if missing or unexpected or reshaped:
        examples = [f"{key} is {_shape(state[key].shape)} in the file, "
                    f"{_shape(expected[key])} in the network" for key in reshaped[:1]]
        examples += [f"{key} missing" for key in missing[:2 - len(examples)]]
        examples += [f"{key} unexpected" for key in unexpected[:2 - len(examples)]]
        fits = [name for name in MODEL_NAMES if name != architecture
                and not any(_mismatch(_architecture_shapes(name), state))]
        stripped = {key.removeprefix("module."): value for key, value in state.items()}
        if fits:
            advice = (f"they are {fits[0]!r} weights: set \"architecture\" to {fits[0]!r} in "
                      f"{METADATA_FILE}")
        elif not any(_mismatch(expected, stripped)):
            advice = ("their names carry a 'module.' prefix (saved from a DataParallel wrapper): "
                      "re-save network.module.state_dict()")
        else:
            advice = ("they were saved from another network: use the metadata of the bundle "
                      "they were trained in")
        raise _bundle_error(folder, (
            f"the weights in {WEIGHTS_FILE} do not fit the {architecture!r} network that "
            f"{METADATA_FILE} names: {len(reshaped)} tensors of another shape, {len(missing)} "
            f"missing, {len(unexpected)} unexpected (e.g. {'; '.join(examples)}); {advice}"
        ))
    try:
        network.load_state_dict({k: v.float() if v.is_floating_point() else v
                                 for k, v in state.items()})
    except RuntimeError as error:  # e.g. a dtype that cannot be copied into the parameter
        first = " ".join(str(error).split())[:200]
        raise _bundle_error(folder, f"{WEIGHTS_FILE}: {first}") from error
