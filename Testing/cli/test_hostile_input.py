"""Hostile input: damaged image files and impossible options end in one line and exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

from AngioSegLib.training.data import make_phantom_samples

DAMAGED = {
    "random bytes .png": ("frame.png", np.random.default_rng(0).bytes(2000)),
    "0 bytes .jpg": ("frame.jpg", b""),
    "random bytes .bmp": ("frame.bmp", np.random.default_rng(1).bytes(500)),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_a_damaged_image_file_is_one_line(case, tmp_path, capsys):
    name, content = DAMAGED[case]
    path = tmp_path / name
    path.write_bytes(content)
    code, _, err = run_cli(["info", str(path)], capsys)
    assert_one_line_error(code, err, "not an image" if not content else "could not be read")
    code, _, err = run_cli(["segment", str(path), "-o", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, name)
    assert not (tmp_path / "out").exists()


def test_a_folder_of_damaged_images_is_one_line(tmp_path, capsys):
    for i in (1, 2):
        (tmp_path / f"{i}.png").write_bytes(np.random.default_rng(i).bytes(900))
    code, _, err = run_cli(["info", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "1.png could not be read as an image")


def test_evaluate_with_a_damaged_image_or_mask_is_one_line(tmp_path, capsys):
    import imageio.v3 as iio

    sample = make_phantom_samples(1, 64, seed=2)[0]
    iio.imwrite(tmp_path / "1.png", (255 * sample["image"][0]).astype(np.uint8))
    (tmp_path / "1_gt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))  # a truncated PNG
    code, _, err = run_cli(["evaluate", "--images", str(tmp_path), "--device", "cpu"], capsys)
    assert_one_line_error(code, err, "1_gt.png could not be read as an image")


@pytest.mark.parametrize("rate", ["-1", "nan", "0"])
def test_train_refuses_an_impossible_learning_rate_before_any_work(rate, tmp_path, capsys):
    code, _, err = run_cli(["train", "--phantoms", "2", "--lr", rate, "-o",
                            str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "learning rate must be a positive number")
    assert not (tmp_path / "run").exists()
