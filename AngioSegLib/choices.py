"""Enumerated options: :class:`Choice`, a string enum, and :func:`parse_choice`, the one check.

Every option with a fixed set of values (backend, precision, temporal weights, QCA methods...) is
a :class:`Choice`. A member *is* its string value: it compares equal to it, hashes as it, and
prints, formats, JSON-encodes and CSV-writes as the plain value (``f"{Precision.INT8}"`` is
``int8``, not ``Precision.INT8``), so code and files that used strings keep working.

:func:`parse_choice` accepts the member or its value (any case, surrounding blanks ignored) and
refuses anything else with one line that lists the choices and suggests the closest one, as
MONAI's ``look_up_option`` does::

    unknown precision 'int4': choose one of auto, fp32, bf16, fp16, int8; did you mean 'int8'?
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from typing import TypeVar

from AngioSegLib.errors import InputError

__all__ = ["Choice", "closest_choice", "parse_choice", "unknown_choice_error"]


class Choice(str, enum.Enum):
    """Base of AngioSeg's enumerated options: a ``str`` whose text is the member's value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    __hash__ = str.__hash__  # equal to its value, so it must hash as it (dict keys, sets)


ChoiceT = TypeVar("ChoiceT", bound=Choice)


def parse_choice(value: object, kind: type[ChoiceT], what: str) -> ChoiceT:
    """The member of ``kind`` named by ``value`` (a member, or its value in any case).

    ``what`` names the option in the error, e.g. "temporal weights". Raises
    :class:`~AngioSegLib.errors.InputError` listing the choices, with a "did you mean" hint.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.strip().lower())
        except ValueError:
            pass
    raise unknown_choice_error(value, [member.value for member in kind], what)


def unknown_choice_error(value: object, choices: Iterable[str], what: str,
                         error: type[Exception] = InputError) -> Exception:
    """The error :func:`parse_choice` raises, for a ``value`` that is none of ``choices``.

    Also for names that are not an enum (keywords, registered networks: pass ``error``, e.g.
    ModelError); returned, not raised, so that the caller raises it (``from`` a cause).
    """
    names = [str(name) for name in choices]
    close = closest_choice(str(value).strip().lower(), names)
    hint = f"; did you mean {close!r}?" if close else ""
    return error(f"unknown {what} {value!r}: choose one of {', '.join(names)}{hint}")


def closest_choice(value: object, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` closest to ``value`` (difflib, ratio ≥ 0.6), else None."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return close[0] if close else None
