"""The mitigation experiment: per-run metrics wired right, table aggregated right, runs resumed, bad input refused."""
import json

import numpy as np
import pytest
import torch

from nnsafety.backdoor import create_trigger
from nnsafety.cli import main
from nnsafety.experiments import mitigation as mit
from nnsafety.experiments import run_mitigation

TINY = {"methods": ["erm", "mixup"], "triggers": ["badnets"], "rates": [0.1], "epochs": 1}


@pytest.fixture
def counted_train(monkeypatch):
    """The real trainer, with every call and its model recorded (and an optional failure at call N)."""
    calls = []
    real = mit.train
    fail_at = {"n": None}

    def wrapper(cfg, **kw):
        if fail_at["n"] is not None and len(calls) == fail_at["n"]:
            raise KeyboardInterrupt  # an interrupted run: nothing of this call reaches the cache
        res = real(cfg, **kw)
        calls.append((cfg, res.model))
        return res

    monkeypatch.setattr(mit, "train", wrapper)
    return calls, fail_at


def _reference_asr(model, trigger_name, target):
    """ASR by the definition, written out: triggered test images not of the target class -> target."""
    from nnsafety.data import load_dataset

    x, y = load_dataset("digits", split="test").tensors()
    keep = y != target
    xt = create_trigger(trigger_name).apply(x[keep])
    with torch.no_grad():
        pred = model.eval()(xt).argmax(1)
    return float((pred == target).double().mean()), float((model(x).argmax(1) == y).double().mean())


def test_runs_are_measured_and_aggregated(tmp_path, counted_train):
    calls, _ = counted_train
    payload = run_mitigation(tmp_path, seeds=2, **TINY)
    assert len(calls) == 4  # 2 seeds x 2 methods
    runs = json.loads((tmp_path / "mitigation_runs.json").read_text())
    for cfg, model in calls:
        assert cfg.poison == "badnets" and cfg.poison_kwargs == {"rate": 0.1, "target": cfg.seed % 10}
        assert cfg.epochs == 1 and cfg.model == "cnn"
        rec = runs[f"{cfg.method}/badnets/0.1/{cfg.seed}/1/cnn"]
        asr, cacc = _reference_asr(model, "badnets", cfg.seed % 10)
        assert rec["asr"] == pytest.approx(asr) and rec["clean_acc"] == pytest.approx(cacc)
        assert rec["target"] == cfg.seed % 10
    for m in ("erm", "mixup"):
        cell = payload["results"]["badnets"]["0.1"][m]
        vals = [runs[f"{m}/badnets/0.1/{s}/1/cnn"]["asr"] for s in range(2)]
        assert cell["asr"]["mean"] == pytest.approx(np.mean(vals))
        assert cell["asr"]["std"] == pytest.approx(np.std(vals, ddof=1))
        assert cell["seeds"] == [0, 1]
    assert json.loads((tmp_path / "mitigation.json").read_text()) == payload
    md = (tmp_path / "mitigation.md").read_text()
    erm = payload["results"]["badnets"]["0.1"]["erm"]
    assert f"{erm['asr']['mean'] * 100:.1f} ± {erm['asr']['std'] * 100:.1f}" in md
    assert f"{erm['clean_acc']['mean'] * 100:.1f} ± {erm['clean_acc']['std'] * 100:.1f}" in md
    assert "2 of 2 seed(s) complete" in md and "| `badnets` | 10 |" in md


def test_interrupted_run_resumes_from_the_cache(tmp_path, counted_train):
    calls, fail_at = counted_train
    fail_at["n"] = 3
    with pytest.raises(KeyboardInterrupt):
        run_mitigation(tmp_path, seeds=2, **TINY)
    assert len(json.loads((tmp_path / "mitigation_runs.json").read_text())) == 3
    assert "1 of 2 seed(s) complete" in (tmp_path / "mitigation.md").read_text()  # seed 0 was summarized
    part = run_mitigation(tmp_path, seeds=2, summarize_only=True, **TINY)  # trains nothing
    assert len(calls) == 3
    cell = part["results"]["badnets"]["0.1"]
    assert cell["erm"]["seeds"] == [0, 1] and cell["mixup"]["seeds"] == [0]
    md = (tmp_path / "mitigation.md").read_text()
    assert f"| {cell['mixup']['asr']['mean'] * 100:.1f} [n=1] |" in md and "1 of 2 seed(s) complete" in md
    fail_at["n"] = None
    run_mitigation(tmp_path, seeds=2, **TINY)
    assert len(calls) == 4  # only the missing run trained
    assert (calls[-1][0].method, calls[-1][0].seed) == ("mixup", 1)
    run_mitigation(tmp_path, seeds=2, **TINY)
    assert len(calls) == 4  # everything cached
    assert "2 of 2 seed(s) complete" in (tmp_path / "mitigation.md").read_text()


@pytest.mark.parametrize("kwargs, match", [
    ({"methods": ["erm", "nope"]}, "expected methods among .*got nope"),
    ({"triggers": ["trojan"]}, "expected triggers among .*got trojan"),
    ({"rates": [0.05, 1.5]}, r"expected poison rates in \(0, 1\), got \[1.5\]"),
    ({"rates": [0.0]}, r"expected poison rates in \(0, 1\)"),
    ({"seeds": 0}, "expected seeds >= 1"),
    ({"epochs": 0}, "expected seeds >= 1 and epochs >= 1"),
])
def test_bad_arguments_fail_in_one_line_before_writing(tmp_path, kwargs, match):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match) as e:
        run_mitigation(out, **kwargs)
    assert "\n" not in str(e.value)
    assert not out.exists()


def test_cli_refuses_bad_input_with_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["experiment", "mitigation", "--out", str(out), "--rates", "0.05,2"]) == 2
    assert main(["experiment", "mitigation", "--out", str(out), "--triggers", "nope"]) == 2
    assert main(["experiment", "digits", "--out", str(out), "--rates", "0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--rates in (0, 1)" in err[0] and "nope" in err[1] and "mitigation" in err[2]
    assert not out.exists()


def test_cli_runs_a_tiny_table(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["experiment", "mitigation", "--out", str(out), "--seeds", "1", "--epochs", "1", "--methods",
                 "erm", "--triggers", "blended", "--rates", "0.05", "--quiet"]) == 0
    data = json.loads((out / "mitigation.json").read_text())
    assert list(data["results"]) == ["blended"] and list(data["results"]["blended"]) == ["0.05"]
    assert data["results"]["blended"]["0.05"]["erm"]["asr"]["n"] == 1


@pytest.mark.slow
def test_poisoning_implants_under_the_experiment_recipe(tmp_path):
    """The experiment's premise: erm at 15 epochs learns digits and the 5% BadNets backdoor."""
    payload = run_mitigation(tmp_path, seeds=1, methods=["erm"], triggers=["badnets"], rates=[0.05])
    cell = payload["results"]["badnets"]["0.05"]["erm"]
    assert cell["clean_acc"]["mean"] >= 0.95 and cell["asr"]["mean"] >= 0.9
