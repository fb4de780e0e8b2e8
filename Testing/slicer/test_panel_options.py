"""AngioSegSlicerLib.options: the panel's values → the composed PipelineOptions, the panel's
defaults and choices against the library's, and the parameter node against PanelValues."""

from __future__ import annotations

import ast
import dataclasses

import pytest
from AngioSegSlicerLib import options as O
from AngioSegSlicerLib.options import PanelValues, pipelineOptions
from conftest import MODULE_DIR

from AngioSegLib.errors import InputError
from AngioSegLib.pipeline import CatheterCalibration, PipelineOptions
from AngioSegLib.qca.options import QcaOptions
from AngioSegLib.segment.options import DeviceKind, InferenceOptions, Precision
from AngioSegLib.temporal.options import FlowPreset, TemporalOptions, TemporalWeights


def test_the_panels_defaults_are_the_librarys():
    options = pipelineOptions(PanelValues())
    assert options == PipelineOptions()
    assert options.model is None and options.catheter is None


def test_every_panel_value_reaches_its_stage():
    values = PanelValues(model="cenet-light", device="cpu", precision="int8", scale=0.5,
                         fieldOfView=False, clearCatheters=False, temporalK=3,
                         motionCompensation=False,
                         temporalWeights="gaussian", flowPreset="fast", threshold=0.4,
                         densitometricMld=False)
    options = pipelineOptions(values)
    assert options.model == "cenet-light"
    assert options.inference == InferenceOptions(device="cpu", precision="int8", scale=0.5,
                                                 field_of_view=False, clear_catheters=False)
    assert options.temporal == TemporalOptions(k=3, motion_compensation=False,
                                               weights="gaussian", flow_preset="fast",
                                               threshold=0.4)
    assert options.qca == QcaOptions(mld_method="edge")
    assert options.catheter is None


def test_the_catheter_line_becomes_the_catheter_calibration():
    points = ((10.0, 12.0), (10.0, 30.5))
    options = pipelineOptions(PanelValues(catheterFrench=6.0), catheterPoints=points,
                              catheterFrame=3)
    assert options.catheter == CatheterCalibration(french=6.0, points=points, frame=3)
    # no French size: the line is ignored, the DICOM calibration is used
    assert pipelineOptions(PanelValues(), catheterPoints=points).catheter is None


def test_the_users_frame_and_segment_reach_qca_proximal_first():
    # the start (proximal) is below and left of the end: the order must not be "tidied"
    points = ((70.0, 5.5), (20, 60))
    options = pipelineOptions(PanelValues(densitometricMld=False), qcaFrame=3,
                              segmentPoints=points)
    assert options.qca == QcaOptions(mld_method="edge", analysis_frame=3,
                                     segment_points=((70.0, 5.5), (20.0, 60.0)))
    assert options.qca.segment_points[0] == (70.0, 5.5)
    frameOnly = pipelineOptions(PanelValues(), qcaFrame=0).qca
    assert frameOnly.analysis_frame == 0 and frameOnly.segment_points is None


def test_without_a_frame_or_segment_qca_chooses_automatically():
    qca = pipelineOptions(PanelValues(), catheterPoints=((1.0, 2.0), (3.0, 4.0))).qca
    assert qca.analysis_frame is None and qca.segment_points is None
    assert qca == QcaOptions()


def test_a_segment_that_is_not_two_pixels_gets_the_librarys_message():
    with pytest.raises(InputError, match=r"segment_points must be two \(row, col\) pixels"):
        pipelineOptions(PanelValues(), segmentPoints=((1.0, 2.0),))
    with pytest.raises(InputError, match="analysis frame must be 0 or more, found -1"):
        pipelineOptions(PanelValues(), qcaFrame=-1)


def test_a_french_size_without_a_line_is_refused():
    with pytest.raises(InputError, match="needs a line with two points across the catheter"):
        pipelineOptions(PanelValues(catheterFrench=6.0))


def test_invalid_values_get_the_stages_own_message():
    with pytest.raises(InputError, match="unknown precision 'int4'.*did you mean 'int8'"):
        pipelineOptions(PanelValues(precision="int4"))
    with pytest.raises(InputError, match="scale must be between 0.1 and 2"):
        pipelineOptions(PanelValues(scale=5.0))


def test_the_parameter_node_reads_like_panel_values():
    """Anything with PanelValues' attribute names maps (the parameter node is one)."""

    class Node:
        pass

    node = Node()
    for field in dataclasses.fields(PanelValues):
        setattr(node, field.name, field.default)
    node.temporalK = 4
    assert pipelineOptions(node).temporal.k == 4


def test_the_combo_box_choices_are_the_librarys():
    assert set(O.DEVICE_CHOICES) == {m.value for m in DeviceKind}
    assert set(O.PRECISION_CHOICES) == {m.value for m in Precision}
    assert set(O.TEMPORAL_WEIGHT_CHOICES) == {m.value for m in TemporalWeights}
    assert set(O.FLOW_PRESET_CHOICES) == {m.value for m in FlowPreset}
    defaults = PanelValues()
    assert O.TEMPORAL_WEIGHT_CHOICES[0] == defaults.temporalWeights  # first = default
    assert O.FLOW_PRESET_CHOICES[0] == defaults.flowPreset


def parameter_node_defaults() -> dict[str, object]:
    """name → Default(...) value of each annotated field of AngioSegParameterNode (AST)."""
    tree = ast.parse((MODULE_DIR / "AngioSeg.py").read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef)
               and n.name == "AngioSegParameterNode"]
    defaults = {}
    for item in node.body:
        if not isinstance(item, ast.AnnAssign):
            continue
        calls = [c for c in ast.walk(item.annotation)
                 if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "Default"]
        defaults[item.target.id] = ast.literal_eval(calls[0].args[0]) if calls else None
    return defaults


def test_the_parameter_node_has_every_panel_value_with_its_default():
    defaults = parameter_node_defaults()
    for field in dataclasses.fields(PanelValues):
        assert field.name in defaults, f"the parameter node lacks {field.name}"
        if defaults[field.name] is not None:
            assert defaults[field.name] == field.default, field.name
        else:  # no Default(): the wrapper's default for the type ("" , False, 0)
            assert not field.default, field.name
