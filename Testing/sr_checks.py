"""Reading a TID 1500 SR back and checking its numbers against a qca.json record."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd

from AngioSegLib.io.sr import CONCEPTS


def read_groups(path: Path):
    """(SR, {tracking identifier: measurement group}) of the SR file at ``path``."""
    sr = hd.sr.srread(path)
    return sr, {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}


def content_items(sequence):
    """Every content item below ``sequence``, depth first."""
    for item in sequence:
        yield item
        yield from content_items(item.get("ContentSequence", []))


def _values(group) -> dict[tuple[str, str | None, str | None], tuple[float, str]]:
    """{(concept, method, derivation): (value, UCUM unit)} of one group's measurements."""
    out = {}
    for m in group.get_measurements():
        key = (m.name.value, m.method.value if m.method else None,
               m.derivation.value if m.derivation else None)
        assert key not in out, f"two measurements {key}"
        out[key] = (m.value, m.unit.value)
    return out


def _expected(record: dict, unit: str, calibration: dict) -> dict:
    """The SR keys and values a qca.json record (segment or stenosis) must give."""
    diameter = CONCEPTS["diameter"].value
    mld_method = CONCEPTS[record["mld_method"]].value
    reference = ("122490" if record["reference_method"].startswith("interpolated")
                 else "122489")
    want = {
        (diameter, mld_method, "255605001"): record[f"mld_{unit}"],
        (diameter, reference, None): record[f"rvd_{unit}"],
        ("408715008", None, None): record["percent_diameter_stenosis_percent"],
        ("408714007", None, None): record["percent_area_stenosis_percent"],
        ("408716009", None, None): record[f"lesion_length_{unit}"],
        ("122528", None, None): record.get(f"lesion_start_{unit}"),
        ("122529", None, None): record.get(f"lesion_end_{unit}"),
        ("122510", None, None): record.get(f"length_{unit}"),
        (diameter, None, "373098007"): record.get(f"mean_diameter_{unit}"),
        ("122322", None, None): calibration["mm_per_pixel"],
    }
    if record["mld_method"] != "edge":
        want[(diameter, "123103", "255605001")] = record[f"edge_mld_{unit}"]
    if record["reference_method"] == "none":
        del want[(diameter, reference, None)]
    return {k: v for k, v in want.items() if v is not None}


def check_group(group, record: dict, unit: str, calibration: dict) -> None:
    got = _values(group)
    want = _expected(record, unit, calibration)
    assert {k: v for k, (v, _) in got.items()} == want
    length_unit = "mm" if unit == "mm" else "{pixel}"
    for (concept, _, _), (_, ucum) in got.items():
        if concept in ("408715008", "408714007"):
            assert ucum == "%"
        elif concept == "122322":
            assert ucum == "mm/{pixel}"
        else:
            assert ucum == length_unit
