"""The zero-shot baseline: an untrained instruct model asked on a short label-first prompt.

The `base` row of an evaluation asks the untrained model the trained prompt (instruction,
level definitions, retrieved rules and cases, the delimited listing), which a 135M model
never learned to follow; it answers near chance. A newcomer's fair zero-shot baseline is
shorter: the query, the title and the brand, the four levels in one line each, "answer with
one digit". `ZeroShotRenderer` renders that prompt in the same prefix/suffix form (so every
engine scores it, prefix shared, label read from one prefill), and `zero_shot_judge` puts it
in front of an engine without retrieval. Used by `taosr1 eval --model zero-shot` and by the
`zeroshot` stage of `taosr1 train eval`; never served.
"""

from __future__ import annotations

from relevance.engines.base import Engine
from relevance.judge import Judge
from relevance.labels import LabelScheme
from relevance.prompt import PromptRenderer
from relevance.types import Product, RetrievedContext

ZERO_SHOT_PROMPT_VERSION = "taosr1-zero-shot-v1"
#: `taosr1 eval --model zero-shot`: the base model on this prompt
ZERO_SHOT_MODEL = "zero-shot"


def zero_shot_instruction(scheme: LabelScheme) -> str:
    """The task in a few lines: one line per level (its name only), best first, and the one-token answer.

    With each level's definition added, the untrained 135M model answered the last-listed
    level for most pairs (ESCI dev macro-F1 0.12 against 0.27 with names only, 2026-12-02).
    """
    lines = ["How well does the product match the shopping query?"]
    lines += [f"{lv.emit} = {lv.name}" for lv in scheme.levels]
    lines.append(f"Answer with one of {', '.join(scheme.emits)} only.")
    return "\n".join(lines)


class ZeroShotRenderer(PromptRenderer):
    """Query, title and brand on a short prompt; retrieved context, if any is passed, is ignored."""

    version = ZERO_SHOT_PROMPT_VERSION
    system_text = None  # the chat template's own default system message

    def task_text(self, scheme: LabelScheme) -> str:
        return zero_shot_instruction(scheme)

    def prefix_text(self, query: str, context: RetrievedContext | None = None) -> str:
        return f"{self._head}{self._instruction}\n\nQuery: {self._field(query, self.budgets.query)}\n"

    def suffix_text(self, product: Product, query: str | None = None) -> str:
        lines = [f"Product: {self._listing(product.title, self.budgets.title)}"]
        if product.brand:
            lines.append(f"Brand: {self._listing(product.brand, self.budgets.brand)}")
        if self.coverage:
            lines.append(self.coverage_text(query, product))
        return "\n".join(lines) + self._tail


def zero_shot_judge(engine: Engine) -> Judge:
    """A judge that asks `engine` the zero-shot prompt (no retrieval)."""
    return Judge(engine, None, renderer=ZeroShotRenderer(engine.tokenizer, engine.scheme))
