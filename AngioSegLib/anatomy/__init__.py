"""Coronary anatomy: the SYNTAX segment table and the naming of vessels and lesions by segment
(:mod:`.segments`)."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "SEGMENTS": "segments",
    "SEGMENT_CLASSES": "segments",
    "name_analysis": "segments",
    "name_vessels": "segments",
    "segment_at": "segments",
})
