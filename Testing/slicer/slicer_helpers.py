"""Helpers the Slicer module's tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import vtk
from AngioSegSlicerLib import mrml

from AngioSegLib.cine import CineRun, FrameReference
from AngioSegLib.pipeline import PipelineOptions, Result

XA_UID = "1.2.826.0.1.3680043.8.498.1"


def referenced(cine: CineRun) -> CineRun:
    """The cine as if read from one multi-frame XA instance."""
    refs = tuple(FrameReference(mrml.XA_SOP_CLASS_UID, XA_UID, i + 1)
                 for i in range(cine.n_frames))
    return dataclasses.replace(cine, references=refs, name="XA run")


def phantom_result(phantom, analyze: bool = True) -> Result:
    """The pipeline's Result contract with the ground truth as prediction (no network)."""
    cine = referenced(phantom.cine)
    masks = phantom.masks.astype(np.uint8)
    probabilities = masks.astype(np.float32)
    analysis = None
    if analyze:
        from AngioSegLib.qca.measures import analyze_run

        analysis = analyze_run(cine, probabilities, masks)
    return Result(cine=cine, options=PipelineOptions(), probabilities=probabilities, masks=masks,
                  analysis=analysis, model_name="ground truth", device="none")


def array_of(node) -> np.ndarray:
    return mrml.arrayFromImageData(node.GetImageData())


def matrix_of(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def column(table, name: str) -> list:
    array = table.GetTable().GetColumnByName(name)
    assert array is not None, [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())]
    return [array.GetValue(i) for i in range(array.GetNumberOfTuples())]
