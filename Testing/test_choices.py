"""`parse_choice` and `Choice`: the one check of every enumerated option, and members that read,
print and serialise as their plain string values."""

from __future__ import annotations

import csv
import io
import json
import pickle

import pytest

from AngioSegLib.batch.runner import BatchEngine
from AngioSegLib.choices import Choice, closest_choice, parse_choice, unknown_choice_error
from AngioSegLib.errors import InputError, ModelError
from AngioSegLib.qca.options import BorderMethod, DiameterMethod, MldMethod
from AngioSegLib.qca.profile_analysis import ReferenceMethod
from AngioSegLib.segment.options import Backend, DeviceKind, Precision
from AngioSegLib.temporal.options import FlowPreset, TemporalWeights
from AngioSegLib.training.data import PartialLabelRule, TrainingSource

ENUMS = (Backend, DeviceKind, Precision, TemporalWeights, FlowPreset, DiameterMethod, MldMethod,
         BorderMethod, ReferenceMethod, BatchEngine, TrainingSource, PartialLabelRule)


def test_mistyped_value_lists_the_choices_and_suggests_the_closest():
    with pytest.raises(InputError) as info:
        parse_choice("unifrom", TemporalWeights, "temporal weights")
    assert str(info.value) == ("unknown temporal weights 'unifrom': choose one of uniform, "
                               "gaussian, reliability; did you mean 'uniform'?")


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(InputError, match=r"^unknown backend 'tensorrt': choose one of auto, "
                                         r"torch, onnx$"):
        parse_choice("tensorrt", Backend, "backend")


@pytest.mark.parametrize("value", [3, None, 0.5, ("onnx",)])
def test_a_value_that_is_no_string_is_refused(value):
    with pytest.raises(InputError, match="unknown backend .*: choose one of auto, torch, onnx"):
        parse_choice(value, Backend, "backend")


def test_member_value_case_and_blanks_are_accepted():
    assert parse_choice(Precision.INT8, Precision, "precision") is Precision.INT8
    assert parse_choice("int8", Precision, "precision") is Precision.INT8
    assert parse_choice(" INT8 ", Precision, "precision") is Precision.INT8


@pytest.mark.parametrize("kind", ENUMS, ids=lambda kind: kind.__name__)
def test_every_enumerated_option_round_trips(kind):
    assert issubclass(kind, Choice)
    for member in kind:
        assert parse_choice(member.value, kind, "x") is member
        assert pickle.loads(pickle.dumps(member)) is member  # batch settings go to Dask workers


def test_members_read_and_write_as_their_plain_values():
    member = TemporalWeights.UNIFORM
    assert member == "uniform" and hash(member) == hash("uniform")
    assert {"uniform": 1}[member] == 1
    assert f"{member}" == str(member) == "uniform"
    assert f"{member:>8}" == " uniform"
    assert json.dumps({"weights": member}) == '{"weights": "uniform"}'
    out = io.StringIO()
    csv.writer(out).writerow([member, MldMethod.EDGE])
    assert out.getvalue().strip() == "uniform,edge"


def test_the_error_can_be_another_family_member():
    error = unknown_choice_error("cenet-r43", ("cenet-r34", "cenet-light"), "network", ModelError)
    assert isinstance(error, ModelError)
    assert str(error) == ("unknown network 'cenet-r43': choose one of cenet-r34, cenet-light; "
                          "did you mean 'cenet-r34'?")
    assert closest_choice("MyBundel", ["MyBundle", "other"]) == "MyBundle"
    assert closest_choice("zzz", ["MyBundle"]) is None


def test_a_misspelt_normalisation_in_a_bundle_is_named_with_the_closest_known_one():
    from AngioSegLib.errors import ModelError
    from AngioSegLib.model.normalise import check_normalisation

    with pytest.raises(ModelError, match="did you mean 'flattened-inverted'"):
        check_normalisation("flattened-invert")
