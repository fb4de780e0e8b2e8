"""The unit of each QCA measure, declared on the dataclass field that holds it.

QCA lengths are in the calibration's unit: "mm", or "px" on an uncalibrated run (the ``unit`` of
each result says which). A field declared with :func:`in_length_unit` holds such a length, one
with :func:`in_area_unit` its square, one with :func:`in_percent` a percentage (0–100); the
exported tables (:mod:`AngioSegLib.outputs.tables`) suffix each key with that unit (``mld_mm``,
``vessel_area_px2``, ``percent_diameter_stenosis_percent``).
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field

__all__ = ["AREA", "LENGTH", "PERCENT", "in_area_unit", "in_length_unit", "in_percent",
           "unit_kind"]

LENGTH = "length"  # the calibration's unit: mm, or px on an uncalibrated run
AREA = "area"  # its square: mm², or px²
PERCENT = "percent"  # 0–100


def in_length_unit(default=MISSING) -> Field:
    """A dataclass field holding a length in the result's ``unit`` (mm or px)."""
    return field(default=default, metadata={"unit": LENGTH})


def in_area_unit(default=MISSING) -> Field:
    """A dataclass field holding an area in the square of the result's ``unit`` (mm² or px²)."""
    return field(default=default, metadata={"unit": AREA})


def in_percent(default=MISSING) -> Field:
    """A dataclass field holding a percentage (0–100)."""
    return field(default=default, metadata={"unit": PERCENT})


def unit_kind(item: Field) -> str | None:
    """:data:`LENGTH`, :data:`AREA` or :data:`PERCENT` for a field declared with one of the
    functions above; None for a field without a unit (counts, ratios, labels, px positions)."""
    return item.metadata.get("unit")
