"""Synthetic angiograms with known truth: the cine phantom (:mod:`.generator`: vessel tree
:mod:`.tree`, X-ray rendering :mod:`.render`), the second QCA phantom set (:mod:`.qca_suite`),
and the non-vessel things drawn on training crops (:mod:`.collimation`, :mod:`.devices`)."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "PhantomOptions": "generator",
    "StenosisSpec": "generator",
    "make_phantom": "generator",
})
