"""The pipeline Results the module keeps for export (DICOM SEG and SR), and no more.

A Result holds the cine, masks and QCA of one run; export needs them (the model's name and
version, the DICOM references, the analysis whose numbers go into the SR). Its probabilities
(4 bytes a pixel and frame) are not needed and are dropped when stored. Only the latest result
of each input sequence is kept, and at most ``maxResults`` in all (the oldest go first): the
label sequences of older runs stay in the scene and export as SEG from their input cine, without
an SR.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

DEFAULT_MAX_RESULTS = 3


class ResultStore:
    """Results by label sequence node ID: the latest per input sequence, ``maxResults`` at most."""

    def __init__(self, maxResults: int = DEFAULT_MAX_RESULTS) -> None:
        if maxResults < 1:
            raise ValueError(f"the result store needs room for 1 result or more, found "
                             f"{maxResults}")
        self.maxResults = maxResults
        self._results: OrderedDict[str, tuple[str, object]] = OrderedDict()

    def add(self, labelSequenceId: str, inputSequenceId: str, result) -> None:
        """Keep ``result`` (without its probabilities) as the one of ``inputSequenceId``."""
        for key in [k for k, (inputId, _) in self._results.items() if inputId == inputSequenceId]:
            del self._results[key]
        self._results[labelSequenceId] = (inputSequenceId, _withoutProbabilities(result))
        while len(self._results) > self.maxResults:
            self._results.popitem(last=False)

    def get(self, labelSequenceId: str):
        """The Result of the labels ``labelSequenceId``, or None when it is not kept."""
        entry = self._results.get(labelSequenceId)
        return entry[1] if entry is not None else None

    def discard(self, labelSequenceId: str) -> None:
        self._results.pop(labelSequenceId, None)

    def clear(self) -> None:
        self._results.clear()

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, labelSequenceId: str) -> bool:
        return labelSequenceId in self._results


def _withoutProbabilities(result):
    if dataclasses.is_dataclass(result) and hasattr(result, "probabilities"):
        return dataclasses.replace(result, probabilities=None)
    return result
