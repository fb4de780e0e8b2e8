"""AngioSeg: segment and measure coronary arteries in an X-ray angiography cine, in 3D Slicer.

Module, Widget (thin: the .ui, a typed parameter node, a Segment button that becomes Cancel, a
k/N progress bar and a log), Logic (MRML only; no dialogs) and the self-test. The MRML
conversions live in AngioSegMRML / AngioSegQCANodes, the background process in AngioSegProcess;
every computation is AngioSegLib's.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
from slicer.parameterNodeWrapper import Default, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin
from vtkSlicerMarkupsModuleMRMLPython import vtkMRMLMarkupsLineNode
from vtkSlicerSequencesModuleMRMLPython import vtkMRMLSequenceNode

CAUTION = "Research software, not a medical device: check every result against the images."


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
    from AngioSegDICOMPlugin import AngioSegDICOMPluginClass

    if not hasattr(slicer.modules, "dicomPlugins"):
        slicer.modules.dicomPlugins = {}
    slicer.modules.dicomPlugins["AngioSegDICOMPlugin"] = AngioSegDICOMPluginClass


@parameterNodeWrapper
class AngioSegParameterNode:
    """What the user chose. ``catheterFrench`` 0 = no catheter calibration."""

    inputSequence: vtkMRMLSequenceNode
    model: str
    forceCpu: bool
    temporalK: Annotated[int, WithinRange(0, 10), Default(2)]
    motionCompensation: Annotated[bool, Default(True)]
    densitometricMld: Annotated[bool, Default(True)]
    catheterFrench: Annotated[float, WithinRange(0.0, 12.0), Default(0.0)]
    catheterLine: vtkMRMLMarkupsLineNode
    createSegmentation: bool
    labelSequence: vtkMRMLSequenceNode


@dataclass
class AngioSegOutputs:
    """The nodes one run added to the scene."""

    labelSequence: object
    stenosisTable: object = None
    framesTable: object = None
    summaryTable: object = None
    charts: tuple = ()
    segmentation: object = None
    anatomySequence: object = None  # coronary-segment labels (models with a segment head)


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
        import AngioSegDependencies

        missing = AngioSegDependencies.missingDependencies()
        if not missing:
            return True
        text = (
            "AngioSeg needs these Python packages: " + ", ".join(missing) + ".\n"
            "Install them now? This downloads several hundred MB and can take minutes; "
            "Slicer's own numpy, SimpleITK and pydicom are kept as they are."
        )
        if not slicer.util.confirmOkCancelDisplay(text, "AngioSeg: install dependencies"):
            return False
        with slicer.util.tryWithErrorDisplay("Installing AngioSeg's dependencies failed", True):
            with slicer.util.WaitCursor():
                AngioSegDependencies.installDependencies(log=self.log)
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
    """Everything the widget does, callable from scripts: no dialogs, no widgets."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.results = {}  # label sequence node ID -> Result (for DICOM SEG export)

    def getParameterNode(self):
        return AngioSegParameterNode(super().getParameterNode())

    # --- inputs ---

    @staticmethod
    def isImageSequence(node) -> bool:
        """A sequence of scalar (not label) volumes. MRML only: works before AngioSegLib is in."""
        first = node.GetNthDataNode(0) if node and node.GetNumberOfDataNodes() else None
        return bool(first and first.IsA("vtkMRMLScalarVolumeNode")
                    and not first.IsA("vtkMRMLLabelMapVolumeNode"))

    def defaultInputSequence(self):
        """The image sequence of the active sequence browser, else the first image sequence."""
        browser = slicer.modules.sequences.toolBarActiveBrowserNode()
        candidates = [browser.GetMasterSequenceNode()] if browser else []
        candidates += list(slicer.util.getNodesByClass("vtkMRMLSequenceNode"))
        return next((node for node in candidates if self.isImageSequence(node)), None)

    @staticmethod
    def sourceDicomFile(sequenceNode) -> str | None:
        """The XA file the sequence was loaded from (Slicer's DICOM database), if known."""
        first = sequenceNode.GetNthDataNode(0) if sequenceNode.GetNumberOfDataNodes() else None
        uids = first.GetAttribute("DICOM.instanceUIDs") if first else None
        if not uids or slicer.dicomDatabase is None:
            return None
        path = slicer.dicomDatabase.fileForInstance(uids.split()[0])
        return path if path and os.path.exists(path) else None

    def calibrationWarning(self, sequenceNode) -> str:
        """A warning for the panel when lengths would be in pixels (empty when calibrated)."""
        if sequenceNode is None or sequenceNode.GetNumberOfDataNodes() == 0:
            return ""
        spacing = sequenceNode.GetNthDataNode(0).GetSpacing()
        if abs(spacing[0] - 1.0) < 1e-9 and abs(spacing[1] - 1.0) < 1e-9:
            if self.sourceDicomFile(sequenceNode) is None:
                return "Uncalibrated: lengths will be in pixels. Set the catheter French size."
        return ""

    def readCine(self, sequenceNode):
        """The input as a CineRun, with DICOM calibration and references when the file is known."""
        import AngioSegMRML

        sourceCine = None
        path = self.sourceDicomFile(sequenceNode)
        if path:
            from AngioSegLib.io.xa import read_xa

            sourceCine = read_xa(path)
            sourceCine = replace(sourceCine, frames=sourceCine.to_array())
        return AngioSegMRML.cineFromSequence(sequenceNode, sourceCine)

    def prepare(self, sequenceNode, params):
        """(cine, PipelineOptions) from the parameter node."""
        import AngioSegMRML

        from AngioSegLib.pipeline import PipelineOptions
        from AngioSegLib.qca.analysis import QcaOptions

        cine = self.readCine(sequenceNode)
        catheterPoints, catheterFrame = None, 0
        if params.catheterFrench > 0:
            line = params.catheterLine
            if line is None or line.GetNumberOfControlPoints() < 2:
                raise ValueError(
                    "catheter calibration needs a line with two points across the catheter"
                )
            browser = AngioSegMRML.sequenceBrowser(sequenceNode.GetScene(), sequenceNode)
            catheterFrame = browser.GetSelectedItemNumber() if browser else 0
            frameNode = sequenceNode.GetNthDataNode(catheterFrame)
            catheterPoints = tuple(
                AngioSegMRML.rowColFromRas(frameNode, line.GetNthControlPointPositionWorld(i))
                for i in (0, 1)
            )
        options = PipelineOptions(
            model=params.model or None,
            device="cpu" if params.forceCpu else "auto",
            temporal_k=params.temporalK,
            motion_compensation=params.motionCompensation,
            catheter_french=params.catheterFrench or None,
            catheter_points=catheterPoints,
            catheter_frame=catheterFrame,
            qca=QcaOptions(mld_method="densitometric" if params.densitometricMld else "edge"),
        )
        return cine, options

    # --- running ---

    @staticmethod
    def startJob(cine, options):
        """Start the pipeline in a background process; poll the returned BackgroundJob."""
        import shutil

        from AngioSegProcess import BackgroundJob

        python = shutil.which("PythonSlicer")
        job = BackgroundJob(python, env=slicer.util.startupEnvironment() if python else None)
        job.start(cine, options)
        return job

    def process(self, sequenceNode, options=None, createSegmentation=False, progress=None):
        """Segment ``sequenceNode`` now, in this process (scripts, tests); return the outputs."""
        from AngioSegLib.pipeline import PipelineOptions, run
        from AngioSegLib.progress import no_progress

        cine = self.readCine(sequenceNode)
        result = run(cine, options or PipelineOptions(), progress=progress or no_progress)
        return self.importResult(sequenceNode, result, createSegmentation)

    def importResult(self, sequenceNode, result, createSegmentation=False) -> AngioSegOutputs:
        """Labelmap sequence, tables and charts of ``result``; show them."""
        import AngioSegMRML
        import AngioSegQCANodes

        scene = slicer.mrmlScene
        labelSequence = AngioSegMRML.addLabelSequence(scene, result.masks, sequenceNode)
        self.results[labelSequence.GetID()] = result
        tables = AngioSegQCANodes.addTables(scene, result, sequenceNode.GetName())
        charts = AngioSegQCANodes.addCharts(scene, result, tables, sequenceNode.GetName())
        outputs = AngioSegOutputs(labelSequence, *tables, charts=charts)
        if result.anatomy is not None:
            outputs.anatomySequence = AngioSegMRML.addLabelSequence(
                scene, result.anatomy, sequenceNode, f"{sequenceNode.GetName()} anatomy",
                AngioSegMRML.anatomyColorNode(scene))
        proxy = AngioSegMRML.proxyNode(scene, labelSequence)
        if createSegmentation and proxy is not None:
            outputs.segmentation = AngioSegMRML.addSegmentationFromLabel(scene, proxy)
        self.show(outputs)
        return outputs

    @staticmethod
    def show(outputs: AngioSegOutputs) -> None:
        """Labels as the label layer; the stenosis table and the first chart in the layout."""
        import AngioSegMRML

        proxy = AngioSegMRML.proxyNode(slicer.mrmlScene, outputs.labelSequence)
        if proxy is not None and outputs.segmentation is None:
            slicer.util.setSliceViewerLayers(label=proxy, labelOpacity=0.5)
        layoutManager = slicer.app.layoutManager()
        if outputs.stenosisTable is not None and layoutManager is not None:
            tablesLogic = slicer.modules.tables.logic()
            layoutManager.setLayout(tablesLogic.GetLayoutWithTable(layoutManager.layout))
            applicationLogic = slicer.app.applicationLogic()
            applicationLogic.GetSelectionNode().SetActiveTableID(outputs.stenosisTable.GetID())
            applicationLogic.PropagateTableSelection()
        if outputs.charts:
            slicer.modules.plots.logic().ShowChartInLayout(outputs.charts[0])

    @staticmethod
    def summary(outputs: AngioSegOutputs) -> str:
        rows = outputs.stenosisTable.GetNumberOfRows() if outputs.stenosisTable else 0
        return (
            f"Done: labels in '{outputs.labelSequence.GetName()}', {rows} stenoses listed. "
            + CAUTION
        )

    # --- editing and export ---

    def segmentationForCurrentFrame(self, labelSequence):
        """A segmentation node of the label frame now shown, for the Segment Editor."""
        import AngioSegMRML

        proxy = AngioSegMRML.proxyNode(slicer.mrmlScene, labelSequence)
        if proxy is None:
            raise ValueError("the labels are not in a sequence browser; segment again")
        segmentation = AngioSegMRML.addSegmentationFromLabel(slicer.mrmlScene, proxy)
        segmentation.SetAttribute("AngioSeg.labelSequence", labelSequence.GetID())
        return segmentation

    def applyEditedFrame(self, labelSequence) -> int:
        """Write the newest segmentation of the current frame back into the labelmap sequence."""
        import AngioSegMRML

        browser = AngioSegMRML.sequenceBrowser(slicer.mrmlScene, labelSequence)
        segmentations = [
            node for node in slicer.util.getNodesByClass("vtkMRMLSegmentationNode")
            if node.GetAttribute("AngioSeg.labelSequence") == labelSequence.GetID()
        ]
        if browser is None or not segmentations:
            raise ValueError("edit a frame first: press 'Edit current frame'")
        proxy = browser.GetProxyNode(labelSequence)
        mask = AngioSegMRML.labelArrayFromSegmentation(segmentations[-1], proxy)
        frame = browser.GetSelectedItemNumber()
        AngioSegMRML.updateLabelFrame(labelSequence, frame, mask)
        return frame

    def exportSeg(self, labelSequence, path, force: bool = False) -> Path:
        """Write the (possibly edited) labels as DICOM SEG referencing the XA frames."""
        import AngioSegMRML

        from AngioSegLib.io.seg import write_seg

        result = self.results.get(labelSequence.GetID())
        inputSequence = slicer.mrmlScene.GetNodeByID(
            labelSequence.GetAttribute("AngioSeg.inputSequence") or ""
        )
        if result is not None:
            cine, model, version = result.cine, result.model_name, result.model_version
        elif inputSequence is not None:
            cine, model, version = self.readCine(inputSequence), "", ""
        else:
            raise ValueError("the XA cine these labels belong to is no longer in the scene")
        if not cine.references:
            raise ValueError(
                "DICOM SEG needs the XA run loaded from DICOM; this cine has no DICOM references"
            )
        masks = AngioSegMRML.masksFromLabelSequence(labelSequence)
        return write_seg(
            cine, masks, Path(path),
            algorithm_name=f"AngioSeg {model}".strip(), algorithm_version=version or "0",
            force=force,
        )

    def exportSr(self, labelSequence, segPath, force: bool = False):
        """Write measurements.dcm (DICOM SR, TID 1500) beside the SEG at ``segPath``.

        Returns (path, None), or (None, why) when there is no QCA of these labels: the run was
        not measured in this session, or the labels were edited after it (the numbers would not
        be those of the SEG).
        """
        import AngioSegMRML
        import numpy as np

        from AngioSegLib import __version__
        from AngioSegLib.io.sr import SrAlgorithm, write_sr

        result = self.results.get(labelSequence.GetID())
        if result is None or result.analysis is None or not result.analysis.segments:
            return None, "no QCA of these labels in this session (segment the run again)"
        masks = AngioSegMRML.masksFromLabelSequence(labelSequence)
        if not np.array_equal(masks, result.masks):
            return None, "the labels were edited after QCA, whose numbers are of the unedited run"
        algorithm = SrAlgorithm(f"AngioSeg {result.model_name}", result.model_version or "0",
                                __version__)
        path = Path(segPath).with_name("measurements.dcm")
        return write_sr(result.analysis, result.cine, segPath, path, algorithm, force=force), None


#
# Test
#


class AngioSegTest(ScriptedLoadableModuleTest):
    """Whole flow on a small phantom, on CPU: blocking path, then the background process."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_AngioSeg_phantom()

    def test_AngioSeg_phantom(self) -> None:
        import AngioSegMRML
        import numpy as np

        from AngioSegLib.phantom.generator import PhantomOptions, make_phantom
        from AngioSegLib.pipeline import PipelineOptions

        self.delayDisplay("Making a phantom cine")
        phantom = make_phantom(PhantomOptions(seed=0, n_frames=4, size=96))
        sequence = AngioSegMRML.addVolumeSequence(slicer.mrmlScene, phantom.cine, "phantom XA")
        logic = AngioSegLogic()
        options = PipelineOptions(device="cpu", temporal_k=1)

        self.delayDisplay("Segmenting (blocking)")
        outputs = logic.process(sequence, options, createSegmentation=True)
        labels = outputs.labelSequence
        self.assertEqual(labels.GetNumberOfDataNodes(), 4)
        for i in range(4):
            self.assertEqual(labels.GetNthIndexValue(i), sequence.GetNthIndexValue(i))
        browser = AngioSegMRML.sequenceBrowser(slicer.mrmlScene, sequence)
        browser.SetSelectedItemNumber(2)
        proxy = browser.GetProxyNode(labels)
        masks = AngioSegMRML.masksFromLabelSequence(labels)
        self.assertTrue(np.array_equal(AngioSegMRML.arrayFromImageData(proxy.GetImageData()),
                                       masks[2]))
        self.assertIsNotNone(outputs.segmentation)
        self.assertIsNotNone(outputs.framesTable)
        self.assertEqual(outputs.framesTable.GetNumberOfRows(), 4)

        self.delayDisplay("Segmenting (background process)")
        cine = logic.readCine(sequence)
        job = logic.startJob(cine, options)
        seen = []
        while not job.finished:
            slicer.app.processEvents(qt.QEventLoop.AllEvents, 100)
            seen += job.poll()
        result = job.result()
        self.assertTrue(any(e.stage == "segment" for e in seen))
        self.assertTrue(np.array_equal(result.masks, masks))
        self.delayDisplay("Test passed")
