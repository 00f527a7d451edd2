"""CLI views over the analysis packages: corrupt, eval --corruptions / --attack, attack."""
import json

import numpy as np
import pytest

from nnsafety.cli import main
from nnsafety.train import TrainConfig, train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "mlp"
    train(TrainConfig(model="mlp", model_kwargs={"width": 64}, epochs=8), out=out, progress=False)
    return out


def _json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_corrupt_then_eval_reads_the_folder(tmp_path, run_dir, capsys):
    folder = tmp_path / "digits-C"
    assert main(["corrupt", "--data", "digits", "--out", str(folder), "--n", "60",
                 "--corruptions", "gaussian_noise,contrast", "--severities", "1,5", "--quiet"]) == 0
    arr = np.load(folder / "gaussian_noise.npy")
    assert arr.shape == (120, 8, 8, 1) and arr.dtype == np.uint8
    assert np.load(folder / "labels.npy").shape == (120,)
    capsys.readouterr()
    # the clean accuracy must come from the same 60 images: without --n 60 the sizes differ (exit 2)
    assert main(["eval", str(run_dir), "--corruptions", "--corrupted-root", str(folder), "--severities", "1,5"]) == 2
    assert "holds 60 images per severity, the clean test set 450" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--corruptions", "--corrupted-root", str(folder), "--severities", "1,5",
                 "--n", "60", "--json"]) == 0
    res = _json(capsys)
    acc = res["accuracy"]
    assert set(acc) == {"gaussian_noise", "contrast"}
    assert all(0 <= v <= 1 for per in acc.values() for v in per.values())
    # the same numbers, computed directly from the files the exporter wrote
    import torch

    from nnsafety import load_run

    model = load_run(run_dir).model
    labels = torch.from_numpy(np.load(folder / "labels.npy"))
    for name in ("gaussian_noise", "contrast"):
        x = torch.from_numpy(np.load(folder / f"{name}.npy")).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            hits = (model(x).argmax(1) == labels).float()
        assert acc[name]["1"] == pytest.approx(float(hits[:60].mean()))
        assert acc[name]["5"] == pytest.approx(float(hits[60:].mean()))
    # writing into the same folder again needs --overwrite, and leaves the files as they were
    before = (folder / "contrast.npy").read_bytes()
    assert main(["corrupt", "--data", "digits", "--out", str(folder), "--n", "5"]) == 2
    assert (folder / "contrast.npy").read_bytes() == before


def test_eval_attack_curve_and_attack(run_dir, capsys):
    assert main(["eval", str(run_dir), "--attack", "pgd", "--eps", "0,0.05,0.2", "--steps", "10",
                 "--n", "100", "--json", "--quiet"]) == 0
    curve = _json(capsys)
    acc = curve["robust_accuracy"]
    assert acc[0] == pytest.approx(curve["clean_accuracy"]) and acc[0] >= acc[1] >= acc[2]
    assert acc[2] < 0.2  # ε = 0.2 L∞ breaks an undefended digits MLP
    assert main(["attack", str(run_dir), "--attack", "fgsm", "--eps", "0.1", "--n", "100", "--json",
                 "--quiet"]) == 0
    single = _json(capsys)
    assert single["n"] == 100 and single["robust_accuracy"] <= single["clean_accuracy"]


def test_eval_runs_every_analysis_it_is_given_on_one_model(run_dir, capsys):
    assert main(["eval", str(run_dir), "--attack", "pgd", "--eps", "0.1", "--corruptions", "--corruptions",
                 "gaussian_noise", "--severities", "1", "--n", "50", "--json", "--quiet"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2  # one object per analysis: corruptions first, then the attack curve
    assert set(lines[0]["accuracy"]) == {"gaussian_noise"} and lines[1]["attack"] == "pgd"
    assert lines[0]["clean_accuracy"] == pytest.approx(lines[1]["clean_accuracy"])  # same 50 images


def test_attack_seed_fixes_the_random_starts(run_dir, capsys):
    runs = []
    for seed in ("0", "0", "1"):
        assert main(["attack", str(run_dir), "--attack", "pgd", "--eps", "0.1", "--steps", "1", "--seed", seed,
                     "--n", "200", "--json", "--quiet"]) == 0
        runs.append(_json(capsys)["robust_accuracy"])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_autoattack_is_a_registered_attack(run_dir, capsys):
    from nnsafety.attacks import AutoAttack, get_attack, list_attacks

    assert "autoattack" in list_attacks(domain="image") and AutoAttack.ensemble
    assert get_attack("autoattack", eps=0.1).norm == "Linf" and get_attack("cw_l2").norm == "L2"
    assert main(["attack", str(run_dir), "--attack", "autoattack", "--eps", "0.05", "--n", "5", "--quiet"]) == 0
    assert "apgd-ce:" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["eval", "{run}", "--attack", "pgd", "--metric", "spectral", "--figure", "{tmp}/f.png"],
     "--figure saves one analysis's figure, got 2"),
    (["attack", "{run}", "--attack", "nope"], "unknown attack 'nope'"),
    (["attack", "{run}", "--eps", "a"], "comma-separated numbers"),
    (["attack", "{run}", "--eps", "0.1,0.2"], "expected one --eps"),
    (["eval", "{run}", "--corruptions", "fogg"], "fogg"),
    (["eval", "{run}", "--corruptions", "--severities", "0"], "severit"),
    (["eval", "{run}", "--corruptions", "--corrupted-root", "{tmp}"], "labels.npy"),
    (["corrupt", "--data", "nope", "--out", "{tmp}/c"], "unknown dataset"),
])
def test_bad_inputs_exit_2_with_one_line(run_dir, tmp_path, args, needle, capsys):
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("metric, key", [
    ("noise_response", "collapse_score"), ("hessian", "eigenvalues"), ("landscape", "loss"),
    ("boundary", "distances"), ("spectral", "layers"),
])
def test_eval_metric_views(run_dir, tmp_path, metric, key, capsys):
    fig = tmp_path / f"{metric}.png"
    assert main(["eval", str(run_dir), "--metric", metric, "--n", "100", "--json", "--figure", str(fig)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[0])
    assert res["metric"] == metric and key in res
    assert fig.stat().st_size > 1000 and fig.read_bytes()[:4] == b"\x89PNG"


def test_data_free_noise_response_needs_no_data(run_dir, capsys):
    assert main(["eval", str(run_dir), "--metric", "noise_response", "--data-free", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert res["data_free"] is True and res["accuracy"] is None
    assert len(res["class_fraction"][0]) == 10


def test_backdoor_views_train_poisoned_eval_detect(tmp_path, capsys):
    """train --poison -> eval --poison (ASR) -> detect (neural cleanse finds the target)."""
    out = tmp_path / "bd"
    assert main(["train", "--model", "mlp", "--poison", "badnets", "--poison-rate", "0.1", "--target", "3",
                 "--epochs", "15", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--poison", "badnets", "--json"]) == 0
    res = _json(capsys)
    assert res["attack_success_rate"] >= 0.9 and res["target"] == 3 and res["clean_accuracy"] > 0.9
    assert main(["detect", str(out), "--method", "neural_cleanse", "--json"]) == 0
    (verdict,) = _json(capsys)
    assert verdict["backdoored"] and verdict["target_class"] == 3


@pytest.mark.parametrize("args, needle", [
    (["zoo", "--out", "{tmp}/z", "--shard", "3/2"], "--shard i/n"),
    (["zoo", "--out", "{tmp}/z", "--n", "1"], "--n >= 2"),
    (["detect", "{run}", "{run}"], "expected one run directory"),
    (["detect", "{run}", "--compare"], "two run directories"),
    (["detect", "{run}", "--method", "nope"], "nope"),
])
def test_backdoor_bad_inputs(run_dir, tmp_path, args, needle, capsys):
    argv = [a.format(run=run_dir, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "z").exists()
