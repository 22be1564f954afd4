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
from relevance.prompt import PromptRenderer, Tokenizer
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


def _user_frame(tokenizer: Tokenizer) -> tuple[str, str]:
    """The chat template around one user message (the template's own default system text), up to the answer."""
    if getattr(tokenizer, "chat_template", None):
        sentinel = "\u0000TAOSR1-ZERO-SHOT\u0000"
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": sentinel}], tokenize=False, add_generation_prompt=True)
        head, tail = rendered.split(sentinel)
        return head, tail
    return "", "\nAnswer: "


class ZeroShotRenderer(PromptRenderer):
    """Query, title and brand on a short prompt; retrieved context, if any is passed, is ignored."""

    version = ZERO_SHOT_PROMPT_VERSION

    def __init__(self, tokenizer: Tokenizer, scheme: LabelScheme):
        super().__init__(tokenizer, scheme)
        self._head, self._tail = _user_frame(tokenizer)
        self._instruction = zero_shot_instruction(scheme)

    def prefix_text(self, query: str, context: RetrievedContext | None = None) -> str:
        return f"{self._head}{self._instruction}\n\nQuery: {self._field(query, self.budgets.query)}\n"

    def suffix_text(self, product: Product) -> str:
        lines = [f"Product: {self._listing(product.title, self.budgets.title)}"]
        if product.brand:
            lines.append(f"Brand: {self._listing(product.brand, self.budgets.brand)}")
        return "\n".join(lines) + self._tail


def zero_shot_judge(engine: Engine) -> Judge:
    """A judge that asks `engine` the zero-shot prompt (no retrieval)."""
    return Judge(engine, None, renderer=ZeroShotRenderer(engine.tokenizer, engine.scheme))
