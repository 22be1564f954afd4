"""Label tokens: every label string of a scheme must be exactly one token of the model's tokenizer.

Scoring reads one logit per label at the answer position, so a label that splits into two
tokens cannot be scored; loading such a model fails here, with the offending label named.
"""

from __future__ import annotations

from relevance.labels import LabelScheme
from relevance.prompt import Tokenizer


class LabelTokenError(ValueError):
    """A label string is not a single token for this tokenizer."""


def label_token_ids(tokenizer: Tokenizer, scheme: LabelScheme) -> list[int]:
    """Token id of each label, in the scheme's best-first order."""
    ids = []
    for lv in scheme.levels:
        encoded = tokenizer.encode(lv.emit, add_special_tokens=False)
        if len(encoded) != 1:
            raise LabelTokenError(
                f"label {lv.emit!r} (level {lv.level} {lv.name}) of scheme {scheme.name!r} is "
                f"{len(encoded)} tokens {encoded} for this tokenizer; every label must be exactly one "
                "token — choose a scheme whose label strings are single tokens for this model"
            )
        ids.append(encoded[0])
    if len(set(ids)) != len(ids):
        raise LabelTokenError(f"labels of scheme {scheme.name!r} share token ids {ids}")
    return ids
