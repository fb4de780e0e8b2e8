"""The steps of the AngioSeg self-test (``AngioSegTest`` in AngioSeg.py runs them in Slicer).

A 4-frame 96² phantom cine, on CPU, is segmented in this process (labels with the cine's index
values, the proxy showing the browser's frame, a segmentation and the per-frame table) and then
in the background process, which must give the same labels. Qt-free: the caller passes ``idle``,
what to do while the job runs (process Slicer's events).
"""

from __future__ import annotations

import numpy as np

from . import mrml
from .labelmaps import masksFromLabelSequence
from .options import PanelValues, pipelineOptions
from .process import JobError, pollUntilFinished


def runPhantomTest(test, scene, logic, jobTimeout_s: float, idle=None) -> None:
    """Run the self-test with ``test`` (a ScriptedLoadableModuleTest: ``delayDisplay`` and the
    ``assert…`` methods) and ``logic`` (an AngioSegLogic of ``scene``)."""
    from AngioSegLib.phantom.generator import PhantomOptions, make_phantom

    test.delayDisplay("Making a phantom cine")
    phantom = make_phantom(PhantomOptions(seed=0, n_frames=4, size=96))
    sequence = mrml.addVolumeSequence(scene, phantom.cine, "phantom XA")
    options = pipelineOptions(PanelValues(device="cpu", temporalK=1))

    test.delayDisplay("Segmenting (blocking)")
    outputs = logic.process(sequence, options, createSegmentation=True)
    labels = outputs.labelSequence
    test.assertEqual(labels.GetNumberOfDataNodes(), 4)
    for i in range(4):
        test.assertEqual(labels.GetNthIndexValue(i), sequence.GetNthIndexValue(i))
    browser = mrml.sequenceBrowser(scene, sequence)
    browser.SetSelectedItemNumber(2)
    proxy = browser.GetProxyNode(labels)
    masks = masksFromLabelSequence(labels)
    test.assertTrue(np.array_equal(mrml.arrayFromImageData(proxy.GetImageData()), masks[2]))
    test.assertIsNotNone(outputs.segmentation)
    test.assertIsNotNone(outputs.framesTable)
    test.assertEqual(outputs.framesTable.GetNumberOfRows(), 4)

    test.delayDisplay("Segmenting (background process)")
    cine = logic.readCine(sequence)
    job = logic.startJob(cine, options)
    try:
        seen = pollUntilFinished(job, jobTimeout_s, idle=idle)
    except JobError as error:
        test.fail(f"AngioSeg background job: {error}")
    result = job.result()
    test.assertTrue(any(e.stage == "segment" for e in seen))
    test.assertTrue(np.array_equal(result.masks, masks))
    test.delayDisplay("Test passed")
