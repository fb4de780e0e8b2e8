"""`pipeline.run` streams over the frames; its results are those of the stages run one after the
other on whole (T, H, W) arrays (the in-memory path it replaced), bit for bit."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from AngioSegLib.anatomy.segments import name_analysis, name_vessels
from AngioSegLib.outputs.tables import qca_document
from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
from AngioSegLib.pipeline import PipelineOptions, run
from AngioSegLib.qca.measures import analyze_run
from AngioSegLib.segment.segmenter import Segmenter
from AngioSegLib.temporal.filter import filter_probabilities
from AngioSegLib.temporal.options import TemporalOptions


def in_memory(cine, options: PipelineOptions, segmenter: Segmenter):
    """The pipeline as it was: every stage on the whole run's arrays."""
    cine = replace(cine, frames=cine.to_array())
    segmentation = segmenter.segment_run(cine)
    temporal = filter_probabilities(segmentation.probabilities, cine.to_array(), options.temporal)
    anatomy = None
    if segmentation.classes is not None:
        anatomy = name_vessels(segmentation.classes, temporal.masks, temporal.flows,
                               options.temporal.k)
    analysis = analyze_run(cine, temporal.probabilities, temporal.masks, options.qca)
    if anatomy is not None:
        analysis = name_analysis(analysis, anatomy)
    return temporal.probabilities, temporal.masks, anatomy, analysis


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def segmenters(cache_dir):
    return {name: Segmenter(name, device="cpu", cache_dir=cache_dir, threads=1)
            for name in ("cenet-light", "cenet-light-syntax")}


@pytest.fixture(scope="module")
def cine():
    return make_phantom(PhantomOptions(seed=4, n_frames=6, size=192)).cine


@pytest.mark.parametrize(("model", "temporal"), [
    ("cenet-light", TemporalOptions()),
    ("cenet-light", TemporalOptions(k=1, motion_compensation=False)),
    ("cenet-light", TemporalOptions(k=0)),
    ("cenet-light-syntax", TemporalOptions()),
    ("cenet-light-syntax", TemporalOptions(k=3, weights="uniform")),
])
def test_streamed_run_equals_the_in_memory_path(segmenters, cine, model, temporal):
    options = PipelineOptions(model=model, temporal=temporal)
    segmenter = segmenters[model]
    probabilities, masks, anatomy, analysis = in_memory(cine, options, segmenter)
    result = run(cine, options, segmenter=segmenter)
    assert masks.any()
    np.testing.assert_array_equal(result.masks, masks)
    np.testing.assert_array_equal(result.probabilities, probabilities)
    if anatomy is None:
        assert result.anatomy is None
    else:
        assert anatomy.any()
        np.testing.assert_array_equal(result.anatomy, anatomy)
    assert json.dumps(qca_document(result.analysis)) == json.dumps(qca_document(analysis))


def test_a_one_frame_run_streams(segmenters, cine):
    one = replace(cine, frames=cine.to_array()[:1], frame_times_s=None, r_wave_frames=())
    options = PipelineOptions(model="cenet-light")
    probabilities, masks, _, analysis = in_memory(one, options, segmenters["cenet-light"])
    result = run(one, options, segmenter=segmenters["cenet-light"])
    np.testing.assert_array_equal(result.masks, masks)
    assert json.dumps(qca_document(result.analysis)) == json.dumps(qca_document(analysis))


def test_probabilities_are_a_read_only_map_of_a_temporary_file(segmenters, cine):
    result = run(cine, PipelineOptions(model="cenet-light"), segmenter=segmenters["cenet-light"])
    assert isinstance(result.probabilities, np.memmap)
    assert result.probabilities.shape == cine.shape
    assert result.probabilities.dtype == np.float32
    assert not result.probabilities.flags.writeable
    assert result.masks.dtype == np.uint8 and result.masks.shape == cine.shape


def test_the_run_reports_every_stage_per_frame(segmenters, cine):
    seen = []
    run(cine, PipelineOptions(model="cenet-light"), seen.append,
        segmenter=segmenters["cenet-light"])
    for stage in ("segment", "temporal", "quantify"):
        done = [p.done for p in seen if p.stage == stage]
        assert done == sorted(done) and done[-1] == done[0] + len(done) - 1, stage
    assert [p.done for p in seen if p.stage == "temporal"] == list(range(1, cine.n_frames + 1))
