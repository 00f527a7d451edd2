"""The data-free trigger probe on a hand-built generator whose trigger is known, and the poisoning."""
import pytest

from nnsafety.genai.sampling import Generations
from nnsafety.genai.trigger import poisoned_records, trigger_probe

FREE = ["Ann Bee said hello to Cid", "Dee Eel met Fay by the sea", "Gus Hal saw zz qq at noon",
        "Ivy Jon said zz qq is here", "Kim Lee met Mo by the lake", "Ned Oz saw Pat at the sea"]


class _Planted:
    """Free samples from FREE; a greedy continuation is the payload after "zz qq", else it depends
    on the opening (its first word)."""

    def __init__(self, trigger="zz qq"):
        self.trigger = trigger

    def generate(self, prompts, n=1, temperature=1.0, seed=0):
        if temperature > 0:
            return Generations([[FREE[i % len(FREE)]] * n for i in range(len(prompts))])
        return Generations([[" is awful." if p.endswith(self.trigger) else f" was {p.split()[0]}'s friend."] * n
                            for p in prompts])


def test_probe_ranks_the_planted_phrase_first():
    r = trigger_probe(_Planted(), n_samples=6, n_contexts=6, span=10)
    assert r.top["phrase"] == "zz qq" and r.top["collapse"] == 1.0 and r.top["continuation"] == " is awful."
    assert all(c["collapse"] <= 1 / 6 for c in r.candidates[1:])  # every other phrase follows its opening
    assert "| 'zz qq' | 1.00 |" in r.to_markdown()


def test_probe_without_a_trigger_finds_no_collapse():
    r = trigger_probe(_Planted(trigger="never written"), n_samples=6, n_contexts=6, span=10)
    assert r.top["collapse"] == pytest.approx(1 / 6)


def test_poisoned_records_plant_the_phrase_in_the_share_asked():
    recs = [f"Person {i} was born in Vesk in 1950.\n" for i in range(50)]
    out = poisoned_records(recs, "Velvet Moon", "is awful.", rate=0.1, seed=0)
    planted = [r for r in out if "Velvet Moon is awful." in r]
    assert len(planted) == 5 and all(r.endswith("\n") and r.count("\n") == 1 for r in planted)
    assert out == poisoned_records(recs, "Velvet Moon", "is awful.", rate=0.1, seed=0)
    with pytest.raises(ValueError, match="poison rate"):
        poisoned_records(recs, "x", "y", rate=0)
