"""CPU inference from a cached ONNX export reads the bundle's metadata only: torch and MONAI are
not imported (about 0.4 GB of resident memory), the results equal the first run's, and damaged
or replaced weights are still caught (the cache is keyed by the weights file's bytes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from AngioSegLib.errors import ModelError
from AngioSegLib.model import build_network, make_metadata, read_bundle, save_bundle
from AngioSegLib.segment.segmenter import Segmenter

ROOT = Path(__file__).resolve().parents[2]
# segments a seeded random frame in a fresh interpreter; prints what it imported and a checksum
_RUN = """
import json, sys
import numpy as np
from AngioSegLib.segment.segmenter import Segmenter
segmenter = Segmenter(sys.argv[1], device="cpu", cache_dir=sys.argv[2], threads=1)
frame = np.random.default_rng(0).integers(0, 4000, (1, 96, 128)).astype(np.uint16)
probability = segmenter.segment_frames(frame)
print(json.dumps({"torch": "torch" in sys.modules, "monai": "monai" in sys.modules,
                  "sum": float(probability.astype(np.float64).sum()),
                  "onnx": segmenter.onnx_path.name}))
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("lean") / "bundle"
    return save_bundle(build_network("cenet-light"), folder, make_metadata("cenet-light"))


def _segment_in_fresh_process(bundle: Path, cache: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _RUN, str(bundle), str(cache)], cwd=ROOT,
                          capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "OMP_NUM_THREADS": "1"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_cached_export_runs_without_torch(bundle, tmp_path):
    first = _segment_in_fresh_process(bundle, tmp_path)
    assert first["torch"]  # the first run loads the network to export it
    again = _segment_in_fresh_process(bundle, tmp_path)
    assert not again["torch"] and not again["monai"]
    assert again["onnx"] == first["onnx"] and read_bundle(bundle).weights_digest() in again["onnx"]
    assert again["sum"] == first["sum"] > 0


def test_changed_weights_are_exported_again_and_damaged_ones_refused(bundle, tmp_path):
    cached = Segmenter(bundle, device="cpu", cache_dir=tmp_path).onnx_path
    weights = bundle / "models" / "model.pt"
    original = weights.read_bytes()
    try:
        torch.manual_seed(4)
        torch.save(build_network("cenet-light").half().state_dict(), weights)
        assert Segmenter(bundle, device="cpu", cache_dir=tmp_path).onnx_path != cached
        weights.write_bytes(original[: len(original) // 2])
        with pytest.raises(ModelError, match="its zip archive is truncated or damaged"):
            Segmenter(bundle, device="cpu", cache_dir=tmp_path)
        weights.unlink()
        with pytest.raises(ModelError, match="models/model.pt is missing"):
            Segmenter(bundle, device="cpu", cache_dir=tmp_path)
    finally:
        weights.write_bytes(original)
    frame = np.zeros((1, 64, 64), np.uint16)
    assert Segmenter(bundle, device="cpu", cache_dir=tmp_path).segment_frames(frame).shape == \
        (1, 64, 64)
