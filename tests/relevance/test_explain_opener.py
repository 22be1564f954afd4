"""Explain forces the label and the rationale's opener, token for token as the training targets start."""

import pytest

from relevance.core import ScoringCore
from relevance.engines.transformers_engine import TransformersEngine
from relevance.judge import Judge
from relevance.prompt import RATIONALE_OPENER, RATIONALE_STEPS, rationale_text
from relevance.types import Product

STEPS = {name: f"{name.lower()} text" for name in RATIONALE_STEPS}
CASE = Product(id="a1", title="Silicone Case for iPhone 13, Blue", brand="Apple")


@pytest.fixture(scope="module")
def core(tiny_model_dir, cache_dir):
    return ScoringCore(TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32", threads=2))


@pytest.mark.parametrize("level", [4, 3, 2, 1])
def test_forced_ids_are_how_every_training_target_starts(core, level):
    target = core.renderer.target_text(level, rationale_text(STEPS))
    target_ids = core.engine.tokenizer.encode(target, add_special_tokens=False)
    [group] = core.prepare(["iphone 13 case"], [[CASE]])
    request = core.explain_request(group, 0, level, max_new_tokens=4)
    forced = request.prompt_ids[len(group.prompt_ids(0)) :]
    assert forced == target_ids[: len(forced)]
    assert forced == [core.label_id(level), *core.opener_ids] and len(core.opener_ids) >= 2


class RecordingEngine(TransformersEngine):
    """The real engine, keeping the requests `generate` was given (what was forced, not what was parsed)."""

    def generate(self, requests):
        self.seen = list(requests)
        self.texts = super().generate(requests)
        return self.texts


def test_every_rationale_is_generated_and_read_from_step_one(tiny_model_dir, cache_dir):
    engine = RecordingEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32", threads=2)
    core = ScoringCore(engine)
    [group] = core.prepare(["iphone 13 case"], [[CASE, CASE]])
    explained = core.explain(group, [4, 1], max_new_tokens=6)
    for i, (level, request, text, e) in enumerate(zip([4, 1], engine.seen, engine.texts, explained, strict=True)):
        assert request.prompt_ids == group.prompt_ids(i) + [core.label_id(level), *core.opener_ids]
        assert e.error is None and e.reasoning == (RATIONALE_OPENER + text).strip()
    answer = Judge(engine).explain("iphone 13 case", CASE, 3, max_new_tokens=6)
    [request] = engine.seen
    assert request.prompt_ids[-len(core.opener_ids) - 1 :] == [core.label_id(3), *core.opener_ids]
    assert answer.level == 3 and answer.reasoning.startswith(f"1. {RATIONALE_STEPS[0]}:")
