"""Atomic writes: all or nothing, no temporary left behind, no overwrite without force; the
lock that keeps two runs off one output; whole-folder replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from AngioSegLib.errors import (
    InputError,
    OutputBusyError,
    OutputExistsError,
    OutputNotWritableError,
)
from AngioSegLib.io.atomic import (
    atomic_write,
    check_output_path,
    check_writable_folder,
    exclusive_lock,
    replace_folder,
)


def test_writes_then_renames(tmp_path):
    target = tmp_path / "labels.nii.gz"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.endswith("-labels.nii.gz")
        assert not target.exists()
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.nii.gz"]


def test_failure_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_write(target, force=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_an_interrupt_just_after_the_temporary_file_is_made_leaves_nothing(tmp_path,
                                                                            monkeypatch):
    """A signal raises at the first Python instruction after the system call that made the
    temporary file: it must already lie inside the block that removes it."""
    real_open = os.open

    def open_then_interrupted(*args, **kwargs):
        os.close(real_open(*args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "labels.nii.gz"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="already exists.*--force"), atomic_write(target):
        pass
    assert target.read_bytes() == b"old"
    with atomic_write(target, force=True) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_refuses_a_folder_or_a_missing_parent(tmp_path):
    with pytest.raises(OutputExistsError, match="is a folder"), atomic_write(tmp_path):
        pass
    with pytest.raises(InputError, match="does not exist; create it first"):
        with atomic_write(tmp_path / "missing" / "out.bin"):
            pass


def test_parent_checks_say_what_is_wrong(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="a_file is a file, not a folder: no output can go"):
        check_output_path(blocker / "out.bin")
    with pytest.raises(InputError, match="does not exist; create it first"):
        check_writable_folder(tmp_path / "missing")


def test_a_read_only_parent_is_refused(tmp_path):
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    try:
        if os.access(read_only, os.W_OK):
            pytest.skip("this user (root) may write a 0o555 folder")
        with pytest.raises(OutputNotWritableError, match="read_only is not writable; choose"):
            check_output_path(read_only / "out.bin")
    finally:
        read_only.chmod(0o755)


def test_the_lock_excludes_a_second_holder_and_is_removed(tmp_path):
    target = tmp_path / "out"
    with exclusive_lock(target, "another run is writing out") as lock:
        assert lock == tmp_path / ".out.lock" and lock.exists()
        # flock locks belong to an open file: a second open in this process conflicts too.
        with pytest.raises(OutputBusyError, match="^another run is writing out$"):
            with exclusive_lock(target, "another run is writing out"):
                pass
        assert lock.exists()
    assert list(tmp_path.iterdir()) == []
    with exclusive_lock(target, "busy"):  # free again
        pass


def test_a_lock_file_left_by_a_killed_run_does_not_block(tmp_path):
    (tmp_path / ".out.lock").write_text("")  # its process died: the kernel dropped the lock
    with exclusive_lock(tmp_path / "out", "busy"):
        pass
    assert list(tmp_path.iterdir()) == []


def make_folder(path, **files):
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_replace_folder_swaps_whole_folders(tmp_path):
    new = make_folder(tmp_path / ".out.new", report="new")
    target = make_folder(tmp_path / "out", report="old", stale="old")
    replace_folder(new, target)
    assert sorted(p.name for p in target.iterdir()) == ["report"]
    assert (target / "report").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    replace_folder(make_folder(tmp_path / ".again", a="1"), tmp_path / "fresh")  # no target yet
    assert (tmp_path / "fresh" / "a").read_text() == "1"


def test_replace_folder_puts_the_old_folder_back_when_the_new_cannot_move(tmp_path, monkeypatch):
    new = make_folder(tmp_path / ".out.new", report="new")
    target = make_folder(tmp_path / "out", report="old")
    real_rename = os.rename

    def rename(source, destination):
        if Path(source) == new:
            raise OSError("disk went away")
        real_rename(source, destination)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="disk went away"):
        replace_folder(new, target)
    assert (target / "report").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.new", "out"]


def test_replace_folder_keeps_an_empty_target_folder(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    inode = target.stat().st_ino
    replace_folder(make_folder(tmp_path / ".new", a="1", b="2"), target)
    assert target.stat().st_ino == inode and sorted(p.name for p in target.iterdir()) == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    empty = tmp_path / "empty"
    empty.mkdir()
    new = make_folder(tmp_path / ".again", a="1", b="2")
    real_rename = os.rename

    def rename(source, destination):
        if Path(source).name == "b" and Path(source).parent == new:
            raise OSError("disk went away")
        real_rename(source, destination)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="disk went away"):
        replace_folder(new, empty)
    assert list(empty.iterdir()) == [] and sorted(p.name for p in new.iterdir()) == ["a", "b"]
