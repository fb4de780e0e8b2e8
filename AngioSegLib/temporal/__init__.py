"""The motion-compensated temporal filter: optical flow between frames (:mod:`.flow`) and each
frame's probabilities averaged with its 2K+1 neighbours warped along it (:mod:`.filter`), with
the options of both (:mod:`.options`)."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "FlowPreset": "options",
    "TemporalOptions": "options",
    "TemporalWeights": "options",
    "filter_probabilities": "filter",
    "estimate_flows": "flow",
})
