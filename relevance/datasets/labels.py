"""Dataset label vocabularies (ESCI, WANDS, level names) mapped onto the 4-level scale.

Levels: 4 Excellent, 3 Related, 2 Mismatch, 1 Irrelevant, as relevance.labels defines them.
This module only translates (strictly) the labels found in data files; how a level is
rendered as a model token is not its business.
"""

from __future__ import annotations

from relevance.labels import ESCI, TAOSR1

# Levels and their names come from the shared label scheme, so data and model cannot drift.
LEVELS: tuple[int, ...] = TAOSR1.level_values

LEVEL_NAMES: dict[int, str] = {lv.level: lv.name for lv in TAOSR1.levels}

ESCI_TO_LEVEL: dict[str, int] = {
    **{lv.name.lower(): lv.level for lv in ESCI.levels},
    **{lv.emit.lower(): lv.level for lv in ESCI.levels},
}

# WANDS has no level 2: Partial matches are substitutes.
WANDS_TO_LEVEL: dict[str, int] = {"exact": 4, "partial": 3, "irrelevant": 1}

# Any label name a JSONL file may carry: level names, ESCI names and letters.
NAME_TO_LEVEL: dict[str, int] = {
    **ESCI_TO_LEVEL,
    **{name.lower(): level for level, name in LEVEL_NAMES.items()},
}


def _lookup(table: dict[str, int], raw: str, what: str) -> int:
    key = raw.strip().lower()
    if key not in table:
        expected = ", ".join(sorted({k.capitalize() if len(k) > 1 else k.upper() for k in table}))
        raise ValueError(f"unknown {what} label {raw!r} (expected one of {expected})")
    return table[key]


def esci_level(raw: str) -> int:
    """Level of an ESCI label, full name or single letter, any case.

    >>> esci_level("Exact"), esci_level("S"), esci_level("complement"), esci_level("I")
    (4, 3, 2, 1)
    """
    return _lookup(ESCI_TO_LEVEL, raw, "ESCI")


def wands_level(raw: str) -> int:
    """Level of a WANDS label: Exact 4, Partial 3, Irrelevant 1.

    >>> wands_level("Partial")
    3
    """
    return _lookup(WANDS_TO_LEVEL, raw, "WANDS")


def level_from_name(raw: str) -> int:
    """Level from a level name (Excellent/Related/Mismatch/Irrelevant) or an ESCI label.

    >>> level_from_name("Related"), level_from_name("E")
    (3, 4)
    """
    return _lookup(NAME_TO_LEVEL, raw, "level")


def check_level(value: object) -> int:
    """The value as a level 1-4; bools, floats with a fraction and out-of-range numbers fail.

    >>> check_level(3), check_level("2")
    (3, 2)
    """
    if isinstance(value, bool):
        raise ValueError(f"level must be an integer 1-4, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value not in LEVELS:
        raise ValueError(f"level must be an integer 1-4, got {value!r}")
    return value
