"""AngioSeg: segment and measure coronary arteries in an X-ray angiography cine, in 3D Slicer.

Module, Widget (thin: the .ui, a typed parameter node, a Segment button that becomes Cancel, a
k/N progress bar and a log), Logic (MRML only; no dialogs; runs without touching the views when
asked) and the self-test. The helpers are in the package beside this file, AngioSegSlicerLib:
MRML conversions (``mrml``, ``qca_nodes``), the panel → PipelineOptions mapping (``options``),
the kept results (``results``), the background process (``process``), the DICOM plugin and the
dependency installer, and the Logic's work on the scene (``outputs``, ``segment_editor``,
``dicom_export``); every computation is AngioSegLib's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Union

import qt
import slicer
import vtk
from AngioSegSlicerLib import mrml, segment_editor
from AngioSegSlicerLib.options import (
    DEVICE_CHOICES,
    FLOW_PRESET_CHOICES,
    PRECISION_CHOICES,
    TEMPORAL_WEIGHT_CHOICES,
    pipelineOptions,
)
from AngioSegSlicerLib.outputs import CAUTION, AngioSegOutputs, addResultNodes, summaryText
from AngioSegSlicerLib.results import ResultStore
from slicer.parameterNodeWrapper import Choice, Default, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin
from vtkSlicerMarkupsModuleMRMLPython import vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsLineNode
from vtkSlicerSequencesModuleMRMLPython import vtkMRMLSequenceNode


class AngioSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "AngioSeg"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = ["Sequences"]
        self.parent.contributors = ["AngioSeg contributors"]
        self.parent.helpText = (
            "Segment the coronary arteries in every frame of an X-ray angiography cine and "
            "measure them (QCA: MLD, RVD, %DS, lesion length, filling curve). Load the XA run "
            "with the DICOM module, open AngioSeg, press Segment. " + CAUTION
        )
        self.parent.acknowledgementText = (
            "CE-Net segmentation with a motion-compensated temporal filter; built on MONAI, "
            "PyTorch, pydicom and highdicom."
        )
        slicer.app.connect("startupCompleted()", registerDicomPlugin)


def registerDicomPlugin():
    """Let the DICOM module load AngioSeg's DICOM SEG of an XA cine as a labelmap sequence."""
    from AngioSegSlicerLib.dicom_plugin import AngioSegDICOMPluginClass

    if not hasattr(slicer.modules, "dicomPlugins"):
        slicer.modules.dicomPlugins = {}
    slicer.modules.dicomPlugins["AngioSegDICOMPlugin"] = AngioSegDICOMPluginClass


@parameterNodeWrapper
class AngioSegParameterNode:
    """What the user chose; AngioSegSlicerLib.options.pipelineOptions reads it by these names
    (the defaults are the library's). ``catheterFrench`` 0 = no catheter calibration;
    ``qcaShownFrame`` off = QCA frame chosen from the filling curve; no ``qcaSegment`` = every
    vessel (else its two points, proximal first)."""

    inputSequence: vtkMRMLSequenceNode
    model: str
    densitometricMld: Annotated[bool, Default(True)]
    createSegmentation: bool
    catheterFrench: Annotated[float, WithinRange(0.0, 12.0), Default(0.0)]
    catheterLine: vtkMRMLMarkupsLineNode
    qcaShownFrame: bool
    # typing.Union, not "|" (the wrapper recognises only typing.Union), with None (else it
    # cannot store "no segment")
    qcaSegment: Union[vtkMRMLMarkupsLineNode, vtkMRMLMarkupsFiducialNode, None]  # noqa: UP007
    # Advanced: the stage options
    device: Annotated[str, Choice(DEVICE_CHOICES), Default("auto")]
    precision: Annotated[str, Choice(PRECISION_CHOICES), Default("auto")]
    scale: Annotated[float, WithinRange(0.1, 2.0), Default(1.0)]
    fieldOfView: Annotated[bool, Default(True)]
    clearCatheters: Annotated[bool, Default(True)]
    temporalK: Annotated[int, WithinRange(0, 10), Default(2)]
    motionCompensation: Annotated[bool, Default(True)]
    temporalWeights: Annotated[str, Choice(TEMPORAL_WEIGHT_CHOICES), Default("reliability")]
    flowPreset: Annotated[str, Choice(FLOW_PRESET_CHOICES), Default("medium")]
    threshold: Annotated[float, WithinRange(0.05, 0.95), Default(0.5)]
    labelSequence: vtkMRMLSequenceNode


#
# Widget
#


class AngioSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    PROGRESS_POLL_MS = 200

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._job = None
        self._jobInput = None
        self._timer = qt.QTimer()
        self._timer.setInterval(self.PROGRESS_POLL_MS)
        self._timer.connect("timeout()", self.onPollJob)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AngioSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = AngioSegLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.segmentButton.connect("clicked(bool)", self.onSegmentButton)
        self.ui.exportSegButton.connect("clicked(bool)", self.onExportSeg)
        self.ui.editFrameButton.connect("clicked(bool)", self.onEditFrame)
        self.ui.applyEditButton.connect("clicked(bool)", self.onApplyEdit)
        self.ui.progressBar.hide()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self._timer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGui)

    def onSceneStartClose(self, caller, event) -> None:
        if self._job is not None:
            self.onCancel()
        self.logic.results.clear()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputSequence:
            self._parameterNode.inputSequence = self.logic.defaultInputSequence()

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGui)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGui)
            self.updateGui()

    def updateGui(self, caller=None, event=None) -> None:
        params = self._parameterNode
        running = self._job is not None
        self.ui.segmentButton.text = "Cancel" if running else "Segment"
        self.ui.segmentButton.enabled = running or bool(params and params.inputSequence)
        self.ui.segmentButton.toolTip = (
            "Stop the segmentation" if running else "Segment and measure every frame"
        )
        hasLabels = bool(params and params.labelSequence)
        self.ui.exportSegButton.enabled = hasLabels and not running
        self.ui.editFrameButton.enabled = hasLabels and not running
        self.ui.applyEditButton.enabled = hasLabels and not running
        warning = self.logic.calibrationWarning(params.inputSequence) if params else ""
        self.ui.calibrationLabel.text = warning
        self.ui.calibrationLabel.visible = bool(warning)

    def log(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)
        logging.info(text)

    # --- segment / cancel ---

    def onSegmentButton(self) -> None:
        if self._job is not None:
            self.onCancel()
            return
        if not self.ensureDependencies():
            return
        inputSequence = self._parameterNode.inputSequence
        with slicer.util.tryWithErrorDisplay("AngioSeg could not start", True):
            cine, options = self.logic.prepare(inputSequence, self._parameterNode)
            for warning in cine.warnings:
                self.log(f"Warning: {warning}")
            self._job = self.logic.startJob(cine, options)
        if self._job is None:
            return
        self._jobInput = inputSequence
        self.ui.progressBar.show()
        self.ui.progressBar.setRange(0, 0)
        self.ui.progressBar.setFormat("starting…")
        self.log(f"Segmenting '{inputSequence.GetName()}' ({cine.n_frames} frames)…")
        self._timer.start()
        self.updateGui()

    def onCancel(self) -> None:
        self._timer.stop()
        self._job.cancel()
        self._job = None
        self.ui.progressBar.hide()
        self.log("Cancelled.")
        self.updateGui()

    def onPollJob(self) -> None:
        job = self._job
        for event in job.poll():
            if event.stage in ("log", "done"):
                if event.message:
                    logging.debug(event.message)
            elif event.stage == "error":
                self.log(f"Error: {event.message}")
            else:
                self.ui.progressBar.setRange(0, max(event.total, 1))
                self.ui.progressBar.setValue(event.done)
                self.ui.progressBar.setFormat(f"{event.stage}: {event.done}/{event.total}")
        if not job.finished:
            return
        self._timer.stop()
        self._job = None
        self.ui.progressBar.hide()
        self.updateGui()
        result = None
        with slicer.util.tryWithErrorDisplay("AngioSeg: the segmentation failed", True):
            result = job.result()
        if result is None:
            return
        with slicer.util.tryWithErrorDisplay("AngioSeg could not show the result", True):
            outputs = self.logic.importResult(
                self._jobInput, result, self._parameterNode.createSegmentation
            )
            self._parameterNode.labelSequence = outputs.labelSequence
            self.log(self.logic.summary(outputs))

    def ensureDependencies(self) -> bool:
        from AngioSegSlicerLib import dependencies

        missing = dependencies.missingDependencies()
        if not missing:
            return True
        text = dependencies.installQuestion(missing)
        if not slicer.util.confirmOkCancelDisplay(text, "AngioSeg: install dependencies"):
            return False
        with slicer.util.tryWithErrorDisplay("Installing AngioSeg's dependencies failed", True):
            with slicer.util.WaitCursor():
                dependencies.installDependencies(log=self.log)
            return True
        return False

    # --- results ---

    def onExportSeg(self) -> None:
        path = qt.QFileDialog.getSaveFileName(
            slicer.util.mainWindow(), "Export DICOM SEG", "segmentation.dcm", "DICOM (*.dcm)"
        )
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("AngioSeg could not export the DICOM SEG", True):
            # the file dialog has already asked before replacing an existing file
            written = self.logic.exportSeg(self._parameterNode.labelSequence, path, force=True)
            self.log(f"DICOM SEG written: {written}")
            report, why = self.logic.exportSr(self._parameterNode.labelSequence, written,
                                              force=True)
            self.log(f"DICOM SR measurements written: {report}" if report else
                     f"no DICOM SR measurements: {why}")

    def onEditFrame(self) -> None:
        with slicer.util.tryWithErrorDisplay("AngioSeg could not make a segmentation", True):
            segmentation = self.logic.segmentationForCurrentFrame(self._parameterNode.labelSequence)
            slicer.util.selectModule("SegmentEditor")
            editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
            editor.setSegmentationNode(segmentation)

    def onApplyEdit(self) -> None:
        with slicer.util.tryWithErrorDisplay("AngioSeg could not apply the edit", True):
            frame = self.logic.applyEditedFrame(self._parameterNode.labelSequence)
            self.log(f"Edited segmentation written back to frame {frame}.")


#
# Logic
#


class AngioSegLogic(ScriptedLoadableModuleLogic):
    """Everything the widget does, callable from scripts: no dialogs, no widgets.

    ``results`` keeps, for DICOM SEG and SR export, only the latest Result of each input
    sequence and at most ``AngioSegSlicerLib.results.DEFAULT_MAX_RESULTS`` in all, without their
    probabilities (see :class:`~AngioSegSlicerLib.results.ResultStore`); the labels of older runs
    still export as SEG, from their input cine.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.results = ResultStore()  # label sequence node ID -> Result, bounded

    def getParameterNode(self):
        return AngioSegParameterNode(super().getParameterNode())

    # --- inputs ---

    def defaultInputSequence(self):
        """The image sequence of the active sequence browser, else the first image sequence."""
        browser = slicer.modules.sequences.toolBarActiveBrowserNode()
        candidates = [browser.GetMasterSequenceNode()] if browser else []
        candidates += list(slicer.util.getNodesByClass("vtkMRMLSequenceNode"))
        return next((node for node in candidates if mrml.isImageSequence(node)), None)

    @staticmethod
    def sourceDicomFile(sequenceNode) -> str | None:
        """The XA file the sequence was loaded from (Slicer's DICOM database), if known."""
        uid = mrml.sourceInstanceUid(sequenceNode)
        if not uid or slicer.dicomDatabase is None:
            return None
        path = slicer.dicomDatabase.fileForInstance(uid)
        return path if path and os.path.exists(path) else None

    def calibrationWarning(self, sequenceNode) -> str:
        """A warning for the panel when lengths would be in pixels (empty when calibrated)."""
        if sequenceNode is None or sequenceNode.GetNumberOfDataNodes() == 0:
            return ""
        if not mrml.hasPixelSpacing(sequenceNode.GetNthDataNode(0)):
            if self.sourceDicomFile(sequenceNode) is None:
                return "Uncalibrated: lengths will be in pixels. Set the catheter French size."
        return ""

    def readCine(self, sequenceNode):
        """The input as a CineRun, with DICOM calibration and references when the file is known.

        A run loaded from DICOM is read from its file lazily (headers now, pixels when a frame is
        used), so the background worker gets its path and decodes it there; without a file the
        frames are the scene's.
        """
        sourceCine = None
        path = self.sourceDicomFile(sequenceNode)
        if path:
            from AngioSegLib.io.xa import read_xa

            sourceCine = read_xa(path)
        return mrml.cineFromSequence(sequenceNode, sourceCine)

    def prepare(self, sequenceNode, params):
        """(cine, PipelineOptions) from the parameter node (mapped by ``pipelineOptions``); the
        catheter line, QCA segment and "analyse the frame shown" refer to the frame shown."""
        cine = self.readCine(sequenceNode)
        points, frame = (mrml.linePointsOnShownFrame(sequenceNode, params.catheterLine)
                         if params.catheterFrench > 0 else (None, 0))
        qcaFrame = mrml.shownFrameIndex(sequenceNode) if params.qcaShownFrame else None
        segment = mrml.segmentPointsOnShownFrame(sequenceNode, params.qcaSegment)
        return cine, pipelineOptions(params, catheterPoints=points, catheterFrame=frame,
                                     qcaFrame=qcaFrame, segmentPoints=segment)

    # --- running ---

    @staticmethod
    def startJob(cine, options):
        """Start the pipeline in a background process; poll the returned BackgroundJob (see
        :func:`AngioSegSlicerLib.process.startJob`)."""
        from AngioSegSlicerLib import process

        return process.startJob(cine, options, slicer.util.startupEnvironment)

    def process(self, sequenceNode, options=None, createSegmentation=False, progress=None,
                showResult=True) -> AngioSegOutputs:
        """Segment ``sequenceNode`` now, in this process (scripts, tests); return the outputs.

        With ``showResult`` False the nodes are added to the scene but no view or layout is
        touched (scripts, tests, batch use).
        """
        from AngioSegLib.pipeline import PipelineOptions, run
        from AngioSegLib.progress import no_progress

        cine = self.readCine(sequenceNode)
        result = run(cine, options or PipelineOptions(), progress=progress or no_progress)
        return self.importResult(sequenceNode, result, createSegmentation, showResult)

    def importResult(self, sequenceNode, result, createSegmentation=False,
                     showResult=True) -> AngioSegOutputs:
        """Labelmap sequence, tables and charts of ``result`` (kept in ``results``, see
        :func:`AngioSegSlicerLib.outputs.addResultNodes`); show them when ``showResult``."""
        outputs = addResultNodes(slicer.mrmlScene, sequenceNode, result, self.results,
                                 createSegmentation)
        if showResult:
            self.show(outputs)
        return outputs

    @staticmethod
    def show(outputs: AngioSegOutputs) -> None:
        """Labels as the label layer; the stenosis table and the first chart in the layout."""
        from AngioSegSlicerLib.views import showOutputs

        showOutputs(outputs)

    @staticmethod
    def summary(outputs: AngioSegOutputs) -> str:
        return summaryText(outputs)

    # --- editing and export (AngioSegSlicerLib.segment_editor, .dicom_export) ---

    def segmentationForCurrentFrame(self, labelSequence):
        """A segmentation node of the label frame now shown, for the Segment Editor."""
        return segment_editor.segmentationForShownFrame(slicer.mrmlScene, labelSequence)

    def applyEditedFrame(self, labelSequence) -> int:
        """Write the newest segmentation of the current frame back into the labelmap sequence."""
        return segment_editor.applyEditedFrame(slicer.mrmlScene, labelSequence)

    def exportSeg(self, labelSequence, path, force: bool = False) -> Path:
        """Write the (possibly edited) labels as DICOM SEG referencing the XA frames (from the
        kept Result, else from the input cine read again)."""
        from AngioSegSlicerLib import dicom_export

        return dicom_export.exportSeg(slicer.mrmlScene, self.results, labelSequence, path,
                                      self.readCine, force=force)

    def exportSr(self, labelSequence, segPath, force: bool = False):
        """Write measurements.dcm (DICOM SR, TID 1500) beside the SEG at ``segPath``; (path,
        None), or (None, why) without a kept QCA of these labels as they are now."""
        from AngioSegSlicerLib import dicom_export

        return dicom_export.exportSr(self.results, labelSequence, segPath, force=force)


#
# Test
#


class AngioSegTest(ScriptedLoadableModuleTest):
    """Whole flow on a small phantom, on CPU: blocking path, then the background process (the
    steps: :func:`AngioSegSlicerLib.selftest.runPhantomTest`)."""

    JOB_TIMEOUT_S = 300.0  # the background run of a 4-frame 96² phantom takes seconds

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_AngioSeg_phantom()

    def test_AngioSeg_phantom(self) -> None:
        from AngioSegSlicerLib.selftest import runPhantomTest

        runPhantomTest(self, slicer.mrmlScene, AngioSegLogic(), self.JOB_TIMEOUT_S,
                       idle=lambda: slicer.app.processEvents(qt.QEventLoop.AllEvents, 100))
