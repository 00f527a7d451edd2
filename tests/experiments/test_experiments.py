"""The experiment drivers: files written, numbers aggregated correctly, cached runs reused."""
import json

import numpy as np
import pytest

from nnsafety.corruptions import CorruptionResult
from nnsafety.experiments import digits as digits_mod
from nnsafety.experiments import run_digits, run_toy2d
from nnsafety.experiments._tables import mean_std


def test_mean_std_matches_numpy_and_skips_missing():
    v = [0.8, 0.9, None, 0.85]
    s = mean_std(v)
    assert s["mean"] == pytest.approx(np.mean([0.8, 0.9, 0.85]))
    assert s["std"] == pytest.approx(np.std([0.8, 0.9, 0.85], ddof=1))
    assert mean_std([None])["mean"] is None


def test_toy2d_writes_figure_and_tables(tmp_path):
    payload = run_toy2d(tmp_path, seeds=2, epochs=2, methods=["erm", "noisymix"], n=200, width=16, depth=2)
    assert (tmp_path / "toy2d_boundaries.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "toy2d.json").read_text())
    for name in ("erm", "noisymix"):
        accs = data["results"][name]["test_acc"]
        assert len(accs) == 2 and all(0 <= a <= 1 for a in accs)
        assert data["results"][name]["mean"] == pytest.approx(np.mean(accs))
    md = (tmp_path / "toy2d.md").read_text()
    assert "NoisyMix" in md and "Baseline" in md
    assert payload["results"]["erm"]["n"] == 2
    with pytest.raises(ValueError, match="expected methods"):
        run_toy2d(tmp_path, methods=["nope"])


def test_digits_table_aggregates_runs_and_reuses_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_eval(model, test_set, baseline, eps, steps, seed):
        k = len(calls)
        calls.append(k)
        acc = {"gaussian_noise": {s: 0.5 + 0.01 * k for s in range(1, 6)}}
        return CorruptionResult(0.9, acc, 450, "digits", 0, baseline), type("R", (), {"robust_accuracy": 0.1 * k})()

    monkeypatch.setattr(digits_mod, "evaluate_run", fake_eval)
    run_digits(tmp_path, seeds=2, epochs=1, methods=["erm", "mixup"])
    assert len(calls) == 4  # seed 0: erm, mixup; seed 1: erm, mixup
    data = json.loads((tmp_path / "digits.json").read_text())
    erm, mix = data["results"]["erm"], data["results"]["mixup"]
    assert erm["relative_mce"]["mean"] == pytest.approx(1.0) and erm["mce"]["mean"] == pytest.approx(1.0)
    assert erm["corruption_acc"]["mean"] == pytest.approx(np.mean([0.50, 0.52]))
    assert mix["pgd_acc"]["mean"] == pytest.approx(np.mean([0.1, 0.3]))
    # mixup's CE vs erm of the same seed: errors 0.49/0.50 and 0.47/0.48
    assert mix["mce"]["mean"] == pytest.approx(np.mean([0.49 / 0.50, 0.47 / 0.48]))
    run_digits(tmp_path, seeds=2, epochs=1, methods=["erm", "mixup"])
    assert len(calls) == 4  # everything came from digits_runs.json
    assert "2 of 2 seed(s) done" in (tmp_path / "digits.md").read_text()
