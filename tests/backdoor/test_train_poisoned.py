"""The trainer's poisoning hook: a short run implants BadNets; a clean run does not obey the trigger."""
import json

from nnsafety.backdoor.evaluate import backdoor_metrics
from nnsafety.data import load_dataset
from nnsafety.train import TrainConfig, train


def test_trainer_implants_badnets_and_records_the_poison(tmp_path):
    test = load_dataset("digits", split="test")
    cfg = TrainConfig(model="mlp", epochs=15, poison="badnets", poison_kwargs={"rate": 0.1, "target": 0, "size": 3})
    bad = train(cfg, out=tmp_path / "bd", progress=False)
    poison = json.loads((tmp_path / "bd" / "config.json").read_text())["poison"]
    assert poison["attack"] == "badnets" and poison["n_poisoned"] == round(0.1 * 1347)
    assert len(poison["poisoned_indices"]) == poison["n_poisoned"]
    m_bad = backdoor_metrics(bad.model, test, poison)
    clean = train(TrainConfig(model="mlp", epochs=15), progress=False)
    m_clean = backdoor_metrics(clean.model, test, poison)
    assert m_bad.attack_success_rate >= 0.9 and m_bad.clean_accuracy >= 0.9
    assert m_clean.attack_success_rate <= 0.2 and m_clean.robust_accuracy >= 0.7
