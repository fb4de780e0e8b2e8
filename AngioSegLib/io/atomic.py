"""Atomic writes: write to a temporary file or folder beside the target, then rename it in place.

A reader never sees half a file, a failed write leaves nothing behind, and an existing file is
only replaced when the caller passes ``force=True``::

    with atomic_write(path, force=force) as tmp:
        nrrd.write(str(tmp), data)        # any writer that takes a path

Folders of outputs are written the same way: fill a hidden staging folder, then
:func:`replace_folder` puts it in place as a whole (the old folder goes only once the new one is
complete). :func:`exclusive_lock` keeps two processes from writing the same target at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from AngioSegLib.errors import (
    InputError,
    OutputBusyError,
    OutputExistsError,
    OutputNotWritableError,
)

__all__ = [
    "atomic_write",
    "check_output_path",
    "check_writable_folder",
    "exclusive_lock",
    "hidden_path",
    "lock_path",
    "replace_folder",
]


def hidden_path(folder: Path, prefix: str, suffix: str = "") -> Path:
    """A fresh hidden name in ``folder``, not yet created: ``prefix`` + 16 random hex digits +
    ``suffix`` (``prefix`` starts with a dot).

    Create it *inside* the ``try`` whose ``finally`` removes it: a signal (SIGINT, SIGTERM)
    raises at the first Python instruction after the creating system call, and with
    :func:`tempfile.mkdtemp` that instruction still lies before the ``try`` (the path not yet
    returned), so a stopped run left its staging folder behind."""
    return folder / f"{prefix}{secrets.token_hex(8)}{suffix}"


def check_writable_folder(folder: str | os.PathLike[str]) -> Path:
    """Return ``folder`` as a Path if new files can be created in it; raise a clear error if not.

    Raises :class:`~AngioSegLib.errors.InputError` when the folder is missing or is a file, and
    :class:`OutputNotWritableError` when it is read-only for this user (or on a read-only disk).
    """
    folder = Path(folder)
    shown = folder if str(folder) else Path(".")
    if not folder.exists():
        raise InputError(f"the folder {shown} does not exist; create it first")
    if not folder.is_dir():
        raise InputError(f"{shown} is a file, not a folder: no output can go inside it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputNotWritableError(
            f"the folder {shown} is not writable; choose an output in a folder you can write to"
        )
    return folder


def check_output_path(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Return ``path`` as a Path if it may be written; raise a clear error if it may not.

    Raises :class:`~AngioSegLib.errors.OutputExistsError` when the file exists and ``force`` is
    False, or when ``path`` is a folder; :class:`~AngioSegLib.errors.InputError` when the parent
    folder is missing or is a file; :class:`OutputNotWritableError` when it is read-only.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(f"output {path} is a folder; choose a file name")
    if path.exists() and not force:
        raise OutputExistsError(
            f"{path} already exists; choose another name or pass --force to overwrite it"
        )
    check_writable_folder(path.parent)
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``.

    The temporary name ends with the target's full name (``.<random>-labels.nii.gz``), so writers
    that pick a format from the extension still work. The temporary file exists (empty) when the
    block starts and is removed in ``finally`` if the block raises.
    """
    path = check_output_path(path, force=force)
    tmp = hidden_path(path.parent, ".", f"-{path.name}")
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        tmp.chmod(0o644)  # whatever the umask: outputs are ordinary readable files
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def exclusive_lock(target: str | os.PathLike[str], busy_message: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``target`` (a ``.<name>.lock`` file beside it) for the block.

    Fails at once with :class:`OutputBusyError` (``busy_message``) when another process holds it.
    The lock file is removed when the block ends; a process that dies keeps no lock (the kernel
    releases ``flock`` locks), so a lock file left by a killed run does not block the next one.
    Where ``fcntl`` is missing (Windows) the lock is the exclusive creation of the file itself.
    """
    path = lock_path(target)
    check_writable_folder(path.parent)
    fd = _acquire(path, busy_message)
    try:
        yield path
    finally:
        # Unlink while still holding the lock: a process that opened the old file sees that it
        # is gone once it gets the lock, and starts over on a new file (see _acquire).
        path.unlink(missing_ok=True)
        os.close(fd)


def _acquire(path: Path, busy_message: str) -> int:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; exclusive creation is the lock
        try:
            return os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError as error:
            raise OutputBusyError(f"{busy_message} (or remove a stale {path})") from error
    for _ in range(100):
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(fd)
            raise OutputBusyError(busy_message) from error
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed this file as we locked it: lock the new one
    raise OutputBusyError(busy_message)


def replace_folder(new: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Put the complete folder ``new`` in place of ``target``, all or nothing.

    A missing ``target`` is one rename. An empty one is kept (its permissions, a shell inside it)
    and the entries of ``new`` are renamed into it; if one fails, those moved go back. A non-empty
    one is first renamed aside (``<new>-old``), then ``new`` takes its place and only then is the
    old one deleted; if that second rename fails, the old folder is put back. ``new`` must be on
    the same file system as ``target`` (make it beside ``target``).
    """
    new, target = Path(new), Path(target)
    if not target.is_dir():
        os.rename(new, target)
    elif not any(target.iterdir()):
        _move_entries(new, target)
    else:
        aside = new.with_name(f"{new.name}-old")
        os.rename(target, aside)
        replaced = False
        try:
            os.rename(new, target)
            replaced = True
        finally:
            if replaced:
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(aside, target)


def _move_entries(source: Path, target: Path) -> None:
    moved: list[str] = []
    try:
        for entry in sorted(source.iterdir()):
            os.rename(entry, target / entry.name)
            moved.append(entry.name)
        source.rmdir()
        moved = []
    finally:
        for name in moved:  # only after a failure: leave the target as empty as it was
            os.rename(target / name, source / name)
