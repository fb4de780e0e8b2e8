"""Quantitative coronary analysis: from a segmentation and its frame to diameters, lesions and
per-run measures in mm.

:mod:`.centerline` (skeleton → analysis segments), :mod:`.lesion_path` (paths bridged through
tight lesions), :mod:`.lumen_edges` (borders on the image), :mod:`.diameter` (diameter profiles),
:mod:`.densitometry` and :mod:`.densitometric_mld` (lumen area from contrast density),
:mod:`.overlap` (crossings and overlaps excluded), :mod:`.profile_analysis` (reference fit and
lesion search), :mod:`.analysis` (one frame's segments and stenoses), :mod:`.measures` (per-run
measures: analysis frame, filling curve), :mod:`.calibration` (pixel size from the catheter),
:mod:`.options` (every QCA setting).
"""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "QcaOptions": "options",
    "list_stenoses": "analysis",
    "measure_segments": "analysis",
    "RunAnalysis": "measures",
    "SegmentMeasures": "measures",
    "analyze_run": "measures",
    "choose_analysis_frame": "measures",
    "filling_curve": "measures",
    "calibrate_from_catheter": "calibration",
})
