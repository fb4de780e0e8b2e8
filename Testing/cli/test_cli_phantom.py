"""`angioseg phantom`: writes the phantom's XA file and masks, and refuses to overwrite."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest

from AngioSegLib.cli import main
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom


def test_cli_writes_a_phantom_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run.dcm"
    args = ["phantom", "-o", str(out), "--frames", "2", "--size", "48", "--seed", "3"]
    masks = tmp_path / "masks.nii.gz"
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--transfer-syntax", "rle", "--masks-out", str(masks)])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} and masks {masks}: 2 frames 48×48")
    truth = make_phantom(PhantomOptions(seed=3, n_frames=2, size=48))
    assert np.array_equal(pydicom.dcmread(out).pixel_array, truth.cine.frames)
    written = np.asarray(nib.load(masks).dataobj).transpose(2, 1, 0)
    assert np.array_equal(written, truth.masks)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip().splitlines() == [
        f"angioseg: error: {out} already exists; choose another name or pass --force to "
        "overwrite it"
    ]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--force", "--tree", "middle"])
    assert exit_info.value.code == 2 and "tree must be 'left' or 'right'" in capsys.readouterr().err
