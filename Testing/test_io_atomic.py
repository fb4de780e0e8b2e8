"""Atomic writes: all or nothing, no temporary left behind, no overwrite without force."""

from __future__ import annotations

import pytest

from AngioSegLib.errors import InputError, OutputExistsError
from AngioSegLib.io.atomic import atomic_write


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
