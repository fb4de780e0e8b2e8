"""AngioSeg's labels out as DICOM: the (possibly edited) labelmap sequence as a DICOM SEG that
references the XA frames, and the kept QCA of the same labels as a DICOM SR (TID 1500) beside it.

MRML only, like :mod:`.mrml`; AngioSegLib's writers are imported when used. The Results come
from the Logic's :class:`~.results.ResultStore`; without one (an older run), the SEG is made from
the input cine, read again by the Logic's ``readCine``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .labelmaps import INPUT_SEQUENCE_ATTRIBUTE, masksFromLabelSequence


def exportSeg(scene, results, labelSequence, path, readCine, force: bool = False) -> Path:
    """Write the (possibly edited) labels as DICOM SEG referencing the XA frames.

    ``results``: the ResultStore; ``readCine(sequenceNode)``: the input cine as a CineRun, used
    when no Result of these labels is kept.
    """
    from AngioSegLib.io.seg import write_seg

    result = results.get(labelSequence.GetID())
    inputSequence = scene.GetNodeByID(labelSequence.GetAttribute(INPUT_SEQUENCE_ATTRIBUTE) or "")
    if result is not None:
        cine, model, version = result.cine, result.model_name, result.model_version
    elif inputSequence is not None:
        cine, model, version = readCine(inputSequence), "", ""
    else:
        raise ValueError("the XA cine these labels belong to is no longer in the scene")
    if not cine.references:
        raise ValueError(
            "DICOM SEG needs the XA run loaded from DICOM; this cine has no DICOM references"
        )
    masks = masksFromLabelSequence(labelSequence)
    return write_seg(
        cine, masks, Path(path),
        algorithm_name=f"AngioSeg {model}".strip(), algorithm_version=version or "0",
        force=force,
    )


def exportSr(results, labelSequence, segPath, force: bool = False):
    """Write measurements.dcm (DICOM SR, TID 1500) beside the SEG at ``segPath``.

    Returns (path, None), or (None, why) when there is no QCA of these labels: the run was
    not measured in this session or is no longer kept (see ``results``), or the labels were
    edited after it (the numbers would not be those of the SEG).
    """
    from AngioSegLib import __version__
    from AngioSegLib.io.sr import SrAlgorithm, write_sr

    result = results.get(labelSequence.GetID())
    if result is None or result.analysis is None or not result.analysis.segments:
        return None, ("no QCA of these labels kept (only each cine's latest run is kept); "
                      "segment the run again")
    masks = masksFromLabelSequence(labelSequence)
    if not np.array_equal(masks, result.masks):
        return None, "the labels were edited after QCA, whose numbers are of the unedited run"
    algorithm = SrAlgorithm(f"AngioSeg {result.model_name}", result.model_version or "0",
                            __version__)
    path = Path(segPath).with_name("measurements.dcm")
    return write_sr(result.analysis, result.cine, segPath, path, algorithm, force=force), None
