import math

import pytest

from nnsafety.train.schedule import learning_rate


def test_cosine_matches_closed_form():
    total = 100
    for step in [0, 1, 25, 50, 99]:
        expected = 0.5 * 0.1 * (1 + math.cos(math.pi * step / total))
        assert learning_rate(step, total, 0.1, "cosine") == pytest.approx(expected, rel=1e-12)


def test_warmup_is_linear_then_cosine_from_peak():
    lrs = [learning_rate(s, 100, 1.0, "cosine", warmup_steps=10) for s in range(100)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_step_schedule_decays_at_milestones():
    lr = [learning_rate(s, 100, 1.0, "step", milestones=[0.5, 0.75], gamma=0.1) for s in (0, 49, 50, 74, 75, 99)]
    assert lr == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="cosine, step or constant"):
        learning_rate(0, 10, 0.1, "linear")
