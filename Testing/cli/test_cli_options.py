"""Stage options: composed PipelineOptions (each part checked once, by its own dataclass), and the
`segment` / `batch` flags that set every one of them (choices in --help, one-line errors)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli

from AngioSegLib.errors import AngioSegError, InputError
from AngioSegLib.pipeline import CatheterCalibration, PipelineOptions
from AngioSegLib.qca.options import QcaOptions
from AngioSegLib.segment.options import Backend, InferenceOptions, Precision
from AngioSegLib.temporal.options import FlowPreset, TemporalOptions, TemporalWeights


@pytest.fixture(scope="module")
def phantom_dicom(tmp_path_factory) -> Path:
    from AngioSegLib.io.xa_write import write_xa
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    run = make_phantom(PhantomOptions(seed=3, n_frames=4, size=96))
    return write_xa(run.cine, tmp_path_factory.mktemp("xa") / "run.dcm")


# ------------------------------------------------------------------------ composed options
def test_pipeline_options_are_composed_of_the_stages_options():
    options = PipelineOptions()
    assert [f.name for f in fields(PipelineOptions)] == [
        "model", "inference", "temporal", "catheter", "qca"]
    assert options.inference == InferenceOptions() and options.temporal == TemporalOptions()
    assert options.catheter is None and options.qca == QcaOptions()


def test_a_bad_nested_value_is_refused_by_its_own_dataclass():
    with pytest.raises(InputError, match="^threshold must be between 0 and 1, found 1.5$") as info:
        PipelineOptions(temporal=TemporalOptions(threshold=1.5))
    assert info.traceback[-1].path.name == "options.py"  # AngioSegLib/temporal/options.py
    assert info.traceback[-1].name == "__post_init__"
    with pytest.raises(InputError, match="unknown precision 'int4'.*did you mean 'int8'"):
        PipelineOptions(inference=InferenceOptions(precision="int4"))


def test_a_part_of_the_wrong_type_says_how_to_build_it():
    with pytest.raises(InputError, match=r"PipelineOptions.inference must be InferenceOptions, "
                                         r"found dict; pass inference=InferenceOptions\(...\)"):
        PipelineOptions(inference={"device": "cpu"})
    with pytest.raises(InputError, match="PipelineOptions.catheter must be CatheterCalibration "
                                         "or None, found float"):
        PipelineOptions(catheter=6.0)


def test_catheter_calibration_is_checked():
    catheter = CatheterCalibration(6, ((1, 2), (3, 4)))
    assert catheter.points == ((1.0, 2.0), (3.0, 4.0)) and catheter.frame == 0
    with pytest.raises(InputError, match="French size must be more than 0, found 0"):
        CatheterCalibration(0, ((1, 2), (3, 4)))
    with pytest.raises(InputError, match="two \\(row, col\\) pixels on the catheter"):
        CatheterCalibration(6, ((1, 2),))
    with pytest.raises(InputError, match="frame index ≥ 0, found -1"):
        CatheterCalibration(6, ((1, 2), (3, 4)), frame=-1)


# ------------------------------------------------------------------------------- CLI flags
def _help_text(command: str, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())


@pytest.mark.parametrize("command", ["segment", "batch"])
def test_help_lists_every_stage_flag_and_its_choices(command, capsys, monkeypatch):
    text = _help_text(command, capsys, monkeypatch)
    for flag in ("--backend", "--precision", "--batch-size", "--scale", "--max-size", "--threads",
                 "--no-field-of-view", "--keep-catheters", "--flip-average", "--temporal-k",
                 "--no-motion-compensation", "--temporal-weights", "--temporal-sigma",
                 "--flow-preset", "--flow-scale", "--clahe", "--threshold", "--mld-method",
                 "--diameter-method"):
        assert flag in text, flag
    for choices in ("auto, torch or onnx", "auto, fp32, bf16, fp16 or int8",
                    "uniform, gaussian or reliability", "ultrafast, fast or medium",
                    "auto, cpu, cuda or mps", "densitometric or edge", "integral or iso"):
        assert choices in text, choices


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--temporal-weights", "unifrom"], "unknown temporal weights 'unifrom': choose one of "
                                            "uniform, gaussian, reliability; did you mean "
                                            "'uniform'?"),
        (["--backend", "onxx"], "unknown backend 'onxx': choose one of auto, torch, onnx; did "
                                "you mean 'onnx'?"),
        (["--flow-preset", "slow"], "unknown optical flow preset 'slow'"),
        (["--precision", "int4"], "did you mean 'int8'?"),
        (["--scale", "5"], "scale must be between 0.1 and 2, found 5.0"),
        (["--flow-scale", "0"], "flow scale must be in (0, 1], found 0.0"),
        (["--temporal-k", "-1"], "temporal K must be a whole number of frames ≥ 0, found -1"),
        (["--threads", "0"], "threads must be 1 or more, found 0"),
        (["--diameter-method", "fwhm"], "unknown diameter method 'fwhm'"),
        (["--scale", "big"], "Invalid value for '--scale'"),
    ],
)
@pytest.mark.parametrize("command", ["segment", "batch"])
def test_bad_stage_flag_is_one_line(command, extra, match, tmp_path, capsys, phantom_dicom):
    if command == "batch" and extra[0] == "--threads":
        extra = ["--batch-size", "0"]  # batch's --threads is per run (BatchOptions)
        match = "batch size must be 1 or more frames, found 0"
    out = tmp_path / "o"
    code, _, err = run_cli([command, str(phantom_dicom), "-o", str(out), *extra], capsys)
    assert_one_line_error(code, err, match)
    assert not out.exists()


def test_catheter_flags_need_each_other(tmp_path, capsys, phantom_dicom):
    args = ["segment", str(phantom_dicom), "-o", str(tmp_path / "o"), "--catheter-french", "6"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "needs both --catheter-french and --catheter-points")


class _Stop(AngioSegError):
    """Raised by the stand-in pipeline once it has seen its options."""


def test_segment_flags_reach_the_stages(tmp_path, capsys, monkeypatch, phantom_dicom):
    import AngioSegLib.pipeline as pipeline

    seen = []

    def fake_run(cine, options, progress=None, segmenter=None):
        seen.append(options)
        raise _Stop("options seen")

    monkeypatch.setattr(pipeline, "run", fake_run)
    args = ["segment", str(phantom_dicom), "-o", str(tmp_path / "o"), "--device", "cpu",
            "--backend", "TORCH", "--precision", "fp32", "--batch-size", "3", "--scale", "0.75",
            "--max-size", "256", "--threads", "1", "--no-field-of-view", "--keep-catheters",
            "--no-auto-scale", "--flip-average",
            "--temporal-k", "1", "--no-motion-compensation", "--temporal-weights", "gaussian",
            "--temporal-sigma", "2", "--reliability-grey", "8", "--flow-preset", "fast",
            "--flow-scale", "0.5", "--clahe", "--threshold", "0.4", "--catheter-french", "6",
            "--catheter-points", "10,10,20,20", "--catheter-frame", "2",
            "--mld-method", "edge", "--diameter-method", "iso", "--border-method",
            "probability"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "options seen")
    (options,) = seen
    assert options.inference == InferenceOptions(
        device="cpu", backend=Backend.TORCH, precision=Precision.FP32, batch_size=3, scale=0.75,
        max_size=256, threads=1, field_of_view=False, auto_scale=False, clear_catheters=False,
        flip_average=True)
    assert options.temporal == TemporalOptions(
        k=1, motion_compensation=False, weights=TemporalWeights.GAUSSIAN, sigma_frames=2.0,
        reliability_grey=8.0, flow_preset=FlowPreset.FAST, flow_scale=0.5, clahe=True,
        threshold=0.4)
    assert options.catheter == CatheterCalibration(6.0, ((10.0, 10.0), (20.0, 20.0)), 2)
    qca = options.qca
    assert (qca.mld_method, qca.diameter_method, qca.border_method) == (
        "edge", "iso", "probability")


def test_defaults_of_the_flags_are_the_libraries(tmp_path, capsys, monkeypatch, phantom_dicom):
    import AngioSegLib.pipeline as pipeline

    seen = []

    def fake_run(cine, options, progress=None, segmenter=None):
        seen.append(options)
        raise _Stop("options seen")

    monkeypatch.setattr(pipeline, "run", fake_run)
    code, _, err = run_cli(["segment", str(phantom_dicom), "-o", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "options seen")
    assert seen == [PipelineOptions()]


def test_batch_flags_reach_the_batch(tmp_path, capsys, monkeypatch, phantom_dicom):
    import AngioSegLib.batch as batch

    seen = []

    def fake_run_batch(inputs, options, progress=None):
        seen.append(options)
        raise _Stop("options seen")

    monkeypatch.setattr(batch, "run_batch", fake_run_batch)
    args = ["batch", str(phantom_dicom), "-o", str(tmp_path / "o"), "--temporal-weights",
            "uniform", "--flow-preset", "ultrafast", "--threads", "2", "--backend", "onnx"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "options seen")
    (options,) = seen
    assert options.threads == 2 and options.pipeline.inference.threads is None
    assert options.pipeline.inference.backend is Backend.ONNX
    assert options.pipeline.temporal.weights is TemporalWeights.UNIFORM
    assert options.pipeline.temporal.flow_preset is FlowPreset.ULTRAFAST


@pytest.mark.slow
def test_temporal_flags_end_up_in_the_result_and_report(tmp_path, capsys, monkeypatch,
                                                        phantom_dicom):
    import AngioSegLib.pipeline as pipeline

    results = []
    real_run = pipeline.run

    def recording_run(*args, **kwargs):
        results.append(real_run(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(pipeline, "run", recording_run)
    out = tmp_path / "out"
    code, _, err = run_cli(["segment", str(phantom_dicom), "-o", str(out), "--device", "cpu",
                            "--temporal-weights", "uniform", "--temporal-k", "1", "--json"],
                           capsys)
    assert code == 0, err
    (result,) = results
    assert result.options.temporal.weights is TemporalWeights.UNIFORM
    assert result.options.temporal.k == 1
    assert "motion-compensated, K = 1 (3 frames)" in (out / "report.html").read_text()
