"""Learning-rate schedules as pure functions of the global step (so resume needs no state)."""
from __future__ import annotations

import math
from typing import Sequence


def learning_rate(
    step: int,
    total_steps: int,
    base_lr: float,
    schedule: str = "cosine",
    warmup_steps: int = 0,
    milestones: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Linear warm-up from ``base_lr / warmup_steps`` over ``warmup_steps``; then ``cosine`` anneals to
    0 at the last step (Loshchilov & Hutter 2017, no restarts), ``step`` multiplies by ``gamma``
    at each milestone (a fraction of ``total_steps``), ``constant`` keeps ``base_lr``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        passed = sum(1 for m in milestones if step >= m * total_steps)
        return base_lr * gamma**passed
    if schedule == "cosine":
        span = max(total_steps - warmup_steps, 1)
        progress = min(max(step - warmup_steps, 0) / span, 1.0)
        return 0.5 * base_lr * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"expected schedule cosine, step or constant, got {schedule!r}")
