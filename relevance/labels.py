"""Label schemes as data: the levels, their names, definitions, emitted strings and tiers.

A scheme is pure data; tokenizer checks live in `tokens.py`. The default scheme is the
TaoSR1 4-level scale under ESCI's line between levels 3 and 2 (the right kind of product that
breaks a stated detail is a level-3 substitute); the original TaoSR1 line stays, by name, for
models trained under it. The ESCI scheme maps Amazon's E/S/C/I labels onto the same levels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    """One ordinal level of a scheme."""

    level: int
    name: str
    definition: str
    emit: str  # the exact string the model writes first; must be one token
    tier: str  # online tier: Good / Mid / Bad


#: where a scheme draws the line between levels 3 and 2: TaoSR1's (the right kind of product that
#: breaks a stated attribute is 2) or ESCI's (it is a level-3 substitute). The rules retrieved into
#: prompts (retrieval.corpora) and the synthetic labels (training.data.rules) follow it.
LINES = ("taosr1", "esci")


@dataclass(frozen=True)
class LabelScheme:
    """An ordered set of levels, best first, and the line it draws between 3 and 2 (LINES)."""

    name: str
    levels: tuple[Level, ...]
    line: str = "taosr1"

    def __post_init__(self) -> None:
        if self.line not in LINES:
            raise ValueError(f"scheme {self.name!r}: line must be one of {LINES}, got {self.line!r}")

    @property
    def level_values(self) -> tuple[int, ...]:
        """Levels best first, e.g. (4, 3, 2, 1)."""
        return tuple(lv.level for lv in self.levels)

    @property
    def emits(self) -> tuple[str, ...]:
        return tuple(lv.emit for lv in self.levels)

    def by_level(self, level: int) -> Level:
        for lv in self.levels:
            if lv.level == level:
                return lv
        raise KeyError(f"level {level} is not in scheme {self.name!r} (levels {self.level_values})")

    def by_emit(self, text: str) -> Level | None:
        for lv in self.levels:
            if lv.emit == text:
                return lv
        return None

    def tier_of(self, level: int) -> str:
        return self.by_level(level).tier


TAOSR1 = LabelScheme(
    name="taosr1-4level",
    levels=(
        Level(4, "Excellent", "the product is exactly what the query asks for", "4", "Good"),
        Level(
            3,
            "Related",
            "same kind of product with a minor difference, or a reasonable substitute",
            "3",
            "Mid",
        ),
        Level(
            2,
            "Mismatch",
            "related, but a key attribute, brand, model or compatibility conflicts, "
            "or it is an accessory of the asked item",
            "2",
            "Bad",
        ),
        Level(1, "Irrelevant", "a different kind of product", "1", "Bad"),
    ),
)

TAOSR1_ESCI_LINE = LabelScheme(
    name="taosr1-4level-esci",
    levels=(
        TAOSR1.levels[0],
        Level(
            3,
            "Related",
            "the right kind of product that misses or breaks a stated detail (brand, model, size, "
            "color …), or a reasonable substitute",
            "3",
            "Mid",
        ),
        Level(
            2,
            "Mismatch",
            "related, but it cannot serve the need: an accessory or complement of the asked item, "
            "it fits another device, or it contains what the query excludes",
            "2",
            "Bad",
        ),
        TAOSR1.levels[3],
    ),
    line="esci",
)

ESCI = LabelScheme(
    name="esci",
    levels=(
        Level(4, "Exact", "the item is relevant for the query and satisfies all its specifications", "E", "Good"),
        Level(3, "Substitute", "somewhat relevant: it fails some aspects but can be used instead", "S", "Mid"),
        Level(2, "Complement", "does not fulfil the query but could be used with an exact item", "C", "Bad"),
        Level(1, "Irrelevant", "irrelevant, or fails a central aspect of the query", "I", "Bad"),
    ),
    line="esci",
)

SCHEMES: dict[str, LabelScheme] = {s.name: s for s in (TAOSR1, TAOSR1_ESCI_LINE, ESCI)}
DEFAULT_SCHEME = TAOSR1_ESCI_LINE


def get_scheme(name: str) -> LabelScheme:
    """The scheme called `name`, or a KeyError listing the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyError(f"unknown label scheme {name!r}; known: {sorted(SCHEMES)}") from None


def esci_to_level(label: str) -> int:
    """Map an ESCI label (full word or single letter, any case) to a level.

    >>> esci_to_level("Substitute"), esci_to_level("c")
    (3, 2)
    """
    key = label.strip().upper()[:1]
    for lv in ESCI.levels:
        if lv.emit == key:
            return lv.level
    raise ValueError(f"not an ESCI label: {label!r} (expected Exact/Substitute/Complement/Irrelevant or E/S/C/I)")
