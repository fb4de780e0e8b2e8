"""Quantitative coronary analysis: from a segmentation and its frame to diameters, lesions and
per-run measures in mm (px on an uncalibrated run).

:mod:`.centerline` (skeleton → analysis segments), :mod:`.lesion_path` (paths bridged through
tight lesions), :mod:`.lumen_edges` (borders on the image), :mod:`.diameter` (cross-section
widths), :mod:`.segment_profile` (a segment's diameter profile), :mod:`.densitometry` and
:mod:`.densitometric_mld` (lumen area from contrast density), :mod:`.overlap` (crossings and
overlaps excluded), :mod:`.profile_analysis` (reference fit and lesion search),
:mod:`.stenosis_list` (which lesions are listed), :mod:`.analysis` (one frame's segments and
stenoses), :mod:`.results` (what that gives), :mod:`.units` (the unit of each field),
:mod:`.measures` (per-run measures: analysis frame, filling curve), :mod:`.calibration` (pixel
size from the catheter), :mod:`.options` (every QCA setting). The files written from them are
:mod:`AngioSegLib.outputs.tables`.
"""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "QcaOptions": "options",
    "list_stenoses": "stenosis_list",
    "measure_segments": "analysis",
    "RunAnalysis": "measures",
    "SegmentMeasures": "results",
    "Stenosis": "results",
    "analyze_run": "measures",
    "choose_analysis_frame": "measures",
    "filling_curve": "measures",
    "calibrate_from_catheter": "calibration",
})
