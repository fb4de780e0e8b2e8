"""DICOM plugin: load a DICOM SEG of an X-ray angiography cine as a labelmap sequence.

Slicer's SEG plugin expects 3D volumes; a SEG whose frames reference XA / XRF frames is a 2D + time
segmentation, so this plugin offers it (with a higher confidence) as a labelmap sequence that
plays with the referenced cine when that is loaded; an AngioSeg coronary-segment SEG
(``anatomy.dcm``) becomes a label sequence with the segments' color table.

Registered by the AngioSeg module (``AngioSeg.registerDicomPlugin``, on Slicer's
startupCompleted) in ``slicer.modules.dicomPlugins["AngioSegDICOMPlugin"]``, where the DICOM
module looks for plugins; it lives in this package, not as a module file, so Slicer does not try
to load it as a module.
"""

from __future__ import annotations

import importlib.util
import logging

import pydicom
import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin

from . import mrml, seg_import
from .colors import anatomyColorNode


class AngioSegDICOMPluginClass(DICOMPlugin):
    """Offers SEGs that reference XA / XRF cine frames as AngioSeg labelmap sequences."""

    def __init__(self) -> None:
        super().__init__()
        self.loadType = "AngioSeg labelmap sequence"

    def examine(self, fileLists):
        if importlib.util.find_spec("AngioSegLib") is None:  # installed on first use
            logging.debug("AngioSeg's Python packages are not installed; open AngioSeg first")
            return []
        loadables = []
        for files in fileLists:
            for path in files:
                loadable = self.examineFile(path)
                if loadable is not None:
                    loadables.append(loadable)
        return loadables

    def examineFile(self, path):
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as error:
            logging.debug(f"AngioSeg: skipping {path}: {error}")
            return None
        if str(getattr(dataset, "SOPClassUID", "")) != seg_import.SEG_SOP_CLASS_UID:
            return None
        references = seg_import.referencedCineInstances(dataset)
        if not references:
            return None
        kind = seg_import.CINE_SOP_CLASS_UIDS[references[0][0]]
        loadable = DICOMLoadable()
        loadable.files = [path]
        description = getattr(dataset, "SeriesDescription", "") or "segmentation"
        loadable.name = f"{getattr(dataset, 'SeriesNumber', '')}: SEG {description}".strip(": ")
        loadable.tooltip = f"Segmentation of an {kind} cine, as a labelmap sequence"
        loadable.selected = True
        # Above Slicer's SEG plugin: a 2D + time SEG of a cine is not a 3D segmentation.
        loadable.confidence = 0.99
        loadable.referencedInstanceUIDs = sorted({uid for _, uid in references})
        return loadable

    def load(self, loadable):
        from AngioSegLib.io.seg import read_seg

        scene = slicer.mrmlScene
        uid = loadable.referencedInstanceUIDs[0]
        source = seg_import.findSequenceByInstanceUid(scene, uid) or self.loadReferencedCine(uid)
        frames = source.GetNumberOfDataNodes() if source is not None else None
        if self.isAnatomy(loadable.files[0]):
            from AngioSegLib.io.anatomy_seg import read_anatomy_seg

            labelSequence = seg_import.addSegLabelSequence(
                scene, read_anatomy_seg(loadable.files[0], n_frames=frames), loadable.name,
                referencedUid=uid, colorNode=anatomyColorNode(scene))
        else:
            data = read_seg(loadable.files[0], n_frames=frames)
            labelSequence = seg_import.addSegLabelSequence(
                scene, data.masks, loadable.name, referencedUid=data.source_sop_instance_uid
            )
        browser = mrml.sequenceBrowser(scene, labelSequence)
        slicer.modules.sequences.showSequenceBrowser(browser)
        slicer.util.setSliceViewerLayers(
            label=browser.GetProxyNode(labelSequence), labelOpacity=0.5
        )
        return labelSequence

    @staticmethod
    def isAnatomy(path) -> bool:
        """Whether the SEG at ``path`` holds AngioSeg's coronary segments (its content label)."""
        from AngioSegLib.io.anatomy_seg import ANATOMY_SERIES

        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        return str(getattr(dataset, "ContentLabel", "")) == ANATOMY_SERIES.content_label

    @staticmethod
    def loadReferencedCine(instanceUid: str):
        """Load the referenced XA run with Slicer's image-sequence plugin (None if not found)."""
        path = slicer.dicomDatabase.fileForInstance(instanceUid) if slicer.dicomDatabase else ""
        pluginClass = slicer.modules.dicomPlugins.get("DICOMImageSequencePlugin")
        if not path or pluginClass is None:
            logging.warning(f"AngioSeg: the XA run {instanceUid} is not in the DICOM database; "
                            "the SEG is loaded on its own")
            return None
        plugin = pluginClass()
        loadables = plugin.examineFiles([path])
        return plugin.load(loadables[0]) if loadables else None
