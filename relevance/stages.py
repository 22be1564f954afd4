"""Names of the training stages, defined once: manifests, the pipeline and eval all use these.

Knows nothing about what a stage does.
"""

from __future__ import annotations

#: what the pipeline runs, in order (`taosr1 train pipeline`)
PIPELINE_STAGES = ("cot", "baseline", "sft", "dpo", "grpo", "soup", "eval")
#: checkpoints eval compares, in table order
EVAL_STAGES = ("base", "zeroshot", "baseline", "sft", "dpo", "grpo", "soup")
#: the comparison rows: untrained model (trained prompt; zero-shot prompt, relevance.zero_shot) and the cross-encoder
REFERENCE_STAGES = ("base", "zeroshot", "baseline")
#: what a checkpoint manifest's `stage` may say
STAGES = ("base", "zeroshot", "baseline", "sft", "dpo", "grpo", "soup", "merged", "custom")
