"""Vessel segmentation of every frame: the :class:`~.segmenter.Segmenter` (sizes, runners,
batches), its options (:mod:`.options`) and the exposed field of view (:mod:`.field_of_view`)
outside which nothing is vessel."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "Backend": "options",
    "DeviceKind": "options",
    "InferenceOptions": "options",
    "Precision": "options",
    "Segmenter": "segmenter",
    "Segmentation": "segmenter",
    "field_of_view": "field_of_view",
})
