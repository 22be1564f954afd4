"""Training side of taosr1: data, CoT construction, SFT, DPO, GRPO, evaluation."""
