"""Package-level names that import their module on first use (PEP 562).

A stage package (``AngioSegLib.qca``, ``AngioSegLib.segment``, …) re-exports its public names so
that ``from AngioSegLib.qca import analyze_run`` works, without importing every module of the
stage (and torch, scipy, OpenCV) when one small module of it is wanted.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``; ``exports`` maps each public name to
    the submodule (relative to ``package``) that defines it."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)
