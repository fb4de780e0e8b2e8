"""Vessel segmentation of every frame: the :class:`~.segmenter.Segmenter` (sizes, runners,
batches) and the exposed field of view (:mod:`.field_of_view`) outside which nothing is vessel."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "InferenceOptions": "segmenter",
    "Segmenter": "segmenter",
    "Segmentation": "segmenter",
    "field_of_view": "field_of_view",
})
