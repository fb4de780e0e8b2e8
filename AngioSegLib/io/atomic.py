"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

A reader never sees half a file, a failed write leaves nothing behind, and an existing file is
only replaced when the caller passes ``force=True``::

    with atomic_write(path, force=force) as tmp:
        nrrd.write(str(tmp), data)        # any writer that takes a path
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from AngioSegLib.errors import InputError, OutputExistsError

__all__ = ["atomic_write", "check_output_path"]


def check_output_path(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Return ``path`` as a Path if it may be written; raise a clear error if it may not.

    Raises :class:`~AngioSegLib.errors.OutputExistsError` when the file exists and ``force`` is
    False, or when ``path`` is a folder; :class:`~AngioSegLib.errors.InputError` when the parent
    folder is missing.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"output {path} is a folder; choose a file name")
    if path.exists() and not force:
        raise OutputExistsError(
            f"{path} already exists; choose another name or pass --force to overwrite it"
        )
    if not path.parent.is_dir():
        raise InputError(f"the folder {path.parent} does not exist; create it first")
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``.

    The temporary name ends with the target's full name (``.<random>-labels.nii.gz``), so writers
    that pick a format from the extension still work. The temporary file exists (empty) when the
    block starts and is removed in ``finally`` if the block raises.
    """
    path = check_output_path(path, force=force)
    fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=f"-{path.name}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o644)  # mkstemp makes 0600; outputs are ordinary readable files
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
