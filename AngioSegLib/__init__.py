"""AngioSeg: coronary artery segmentation and quantitative analysis for X-ray angiography cines."""

from AngioSegLib.cine import Calibration, CalibrationSource, CineRun, FrameReference, ViewGeometry
from AngioSegLib.errors import AngioSegError

__version__ = "0.1.0"

__all__ = [
    "AngioSegError",
    "Calibration",
    "CalibrationSource",
    "CineRun",
    "FrameReference",
    "ViewGeometry",
    "__version__",
]
