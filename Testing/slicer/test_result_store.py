"""AngioSegSlicerLib.results: the Logic keeps the latest result per input and a bounded number,
without their probabilities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from AngioSegSlicerLib.results import DEFAULT_MAX_RESULTS, ResultStore


@dataclasses.dataclass(frozen=True)
class FakeResult:
    name: str
    probabilities: object = dataclasses.field(default_factory=lambda: np.ones((2, 4, 4)))
    masks: object = dataclasses.field(default_factory=lambda: np.ones((2, 4, 4), np.uint8))


def test_only_the_latest_result_of_each_input_is_kept():
    store = ResultStore()
    store.add("labels1", "cineA", FakeResult("first"))
    store.add("labels2", "cineA", FakeResult("second"))
    store.add("labels3", "cineB", FakeResult("other"))
    assert store.get("labels1") is None
    assert store.get("labels2").name == "second" and store.get("labels3").name == "other"
    assert len(store) == 2


def test_at_most_max_results_are_kept_oldest_first_out():
    store = ResultStore(maxResults=2)
    for index in range(5):
        store.add(f"labels{index}", f"cine{index}", FakeResult(str(index)))
    assert len(store) == 2
    assert [store.get(f"labels{i}") is not None for i in range(5)] == [False] * 3 + [True] * 2
    assert DEFAULT_MAX_RESULTS >= 1 and len(ResultStore()) == 0


def test_stored_results_drop_their_probabilities_and_keep_the_masks():
    result = FakeResult("run")
    store = ResultStore()
    store.add("labels", "cine", result)
    kept = store.get("labels")
    assert kept.probabilities is None and kept.masks is result.masks
    assert result.probabilities is not None  # the caller's result is not modified


def test_discard_and_clear():
    store = ResultStore()
    store.add("a", "cineA", FakeResult("a"))
    store.add("b", "cineB", FakeResult("b"))
    store.discard("a")
    store.discard("never stored")
    assert "a" not in store and "b" in store
    store.clear()
    assert len(store) == 0


def test_a_store_without_room_is_refused():
    with pytest.raises(ValueError, match="needs room for 1 result or more, found 0"):
        ResultStore(maxResults=0)
