"""Training the vessel network: samples from ARCADE, XCA and phantoms with partial-label weights
and augmentation (:mod:`.data`), and the training loop (:mod:`.train`)."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "TrainOptions": "train",
    "train": "train",
})
