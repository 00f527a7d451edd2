"""The data-only feature backdoor table: every training set is a 90 % subsample, the poisoned
indices are renumbered inside it (each still points at a triggered benign row), and the held-out
summary counts the odd seeds only."""
from __future__ import annotations

import json

from nnsafety.data import load_dataset
from nnsafety.data.poison import poison_dataset, trigger_from_config
from nnsafety.experiments import feature_backdoor as fb


def test_data_only_table_on_phishing(malware_data, tmp_path, monkeypatch):
    seen = []
    real = fb.DetectionContext

    def spy(*args, **kwargs):
        ctx = real(*args, **kwargs)
        seen.append(ctx)
        return ctx

    monkeypatch.setattr(fb, "DetectionContext", spy)
    out = fb.run_feature_backdoor_data(tmp_path, data_root=str(malware_data), seeds=2, rates=(0.05,),
                                       datasets=("phishing",))
    assert len(out["runs"]) == 4 and (tmp_path / "feature_backdoor_data.md").is_file()
    tr = load_dataset("phishing", root=str(malware_data / "phishing"), split="train")
    trigger = trigger_from_config(poison_dataset(tr, "explanation_guided", rate=0.05, target=0, seed=0).poison_config)
    for ctx, rec in zip(seen, out["runs"]):
        x, y = ctx.train
        assert len(y) == int(0.9 * len(tr))
        if rec["rate"]:
            p = ctx.poisoned_indices
            assert 0 < len(p) <= round(0.05 * len(tr)) and (y[p] == 0).all()
            assert (trigger.apply(x[p]) == x[p]).all()  # the rows carry the trigger
    summary = json.loads((tmp_path / "feature_backdoor_data.json").read_text())["summary"][0]
    assert summary["n_test_clean"] == 1 and summary["n_test_poisoned"] == 1


def test_data_only_is_refused_for_other_experiments(tmp_path, capsys):
    from nnsafety.cli import main

    assert main(["experiment", "toy2d", "--out", str(tmp_path), "--data-only"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnsafety experiment: error: --data-only applies to the feature_backdoor experiment only"]
