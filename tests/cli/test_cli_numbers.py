"""Issue 15, items 6, 9, 10 and 13: every number, config value and option from the command line is
checked by one layer (``cli/_parse.py`` types, ``TrainConfig.validate``) before any work: one line
on stderr, exit 2, nothing written. Each case was a probe that got through before (noted per case)."""
from __future__ import annotations

import json

import pytest

from nnsafety.cli import main

BIG_SEED = "99999999999999999999999"


def _fails(argv, needle, capsys, out=None):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    if out is not None:
        assert not out.exists()


@pytest.mark.parametrize("args, needle", [
    # before: "clean accuracy 0.0000, robust accuracy 0.0000", exit 0
    (["attack", "{run}", "--eps", "0.1", "-n", "100", "--batch-size", "-1"], "argument --batch-size: expected an integer >= 1"),
    # before: "range() arg 3 must not be zero"
    (["attack", "{run}", "--batch-size", "0"], "argument --batch-size: expected an integer >= 1, got '0'"),
    # before: --eps 5 and --eps inf accepted although the help says [0, 1]
    (["attack", "{run}", "--eps", "5"], "expected --eps as finite numbers in [0, 1], got '5'"),
    (["attack", "{run}", "--eps", "inf"], "expected --eps as finite numbers in [0, 1], got 'inf'"),
    (["attack", "{run}", "--eps", "nan"], "expected --eps as finite numbers in [0, 1], got 'nan'"),
    (["attack", "{run}", "--eps", "inf", "--norm", "L2"], "expected --eps as finite numbers >= 0, got 'inf'"),
    # before: --steps 0 gave robust accuracy = clean accuracy
    (["attack", "{run}", "--steps", "0"], "argument --steps: expected an integer >= 1, got '0'"),
    (["attack", "{run}", "-n", "-3"], "argument -n/--n: expected an integer >= 0 (0 = all), got '-3'"),
    # before: eval --n -5 measured 445 images
    (["eval", "{run}", "--n", "-5"], "argument --n: expected an integer >= 0 (0 = all), got '-5'"),
    (["eval", "{run}", "--batch-size", "0"], "argument --batch-size: expected an integer >= 1"),
    (["eval", "{run}", "--attack", "pgd", "--eps", "0.1,5"], "expected --eps as finite numbers in [0, 1]"),
    (["eval", "{run}", "--attack", "pgd", "--steps", "0"], "argument --steps: expected an integer >= 1"),
    (["audit", "{run}", "--out", "{out}", "--eps", "inf"], "argument --eps: expected a number in [0, 1], got 'inf'"),
    # before: --seed 99999999999999999999999 overflowed with a traceback
    (["attack", "{run}", "--seed", BIG_SEED], "argument --seed: expected a seed in 0..2**63-1"),
    (["eval", "{run}", "--seed", "-1"], "argument --seed: expected a seed in 0..2**63-1, got '-1'"),
    (["audit", "{run}", "--out", "{out}", "--seed", BIG_SEED], "argument --seed: expected a seed in 0..2**63-1"),
    (["zoo", "--out", "{out}", "--seed", BIG_SEED], "argument --seed: expected a seed in 0..2**63-1"),
    (["detect", "{run}", "--seed", BIG_SEED], "argument --seed: expected a seed in 0..2**63-1"),
    (["corrupt", "--out", "{out}", "--n", "-1"], "argument --n: expected an integer >= 0"),
    (["experiment", "toy2d", "--out", "{out}", "--seeds", "0"], "argument --seeds: expected an integer >= 1"),
    (["train", "--out", "{out}", "--seed", BIG_SEED], "expected seed an integer in 0..2**63-1"),
    # before: --set normalize=False stored the string "False" and normalized anyway
    (["train", "--out", "{out}", "--set", "normalize=False"], "expected normalize true or false, got 'False'"),
    (["train", "--out", "{out}", "--set", "nesterov=False"], "expected nesterov true or false, got 'False'"),
    # before: --set epochs=true trained 1 epoch
    (["train", "--out", "{out}", "--set", "epochs=true"], "expected epochs an integer, got True"),
    (["train", "--out", "{out}", "--set", "lr=NaN"], "expected lr a finite number, got nan"),
    (["train", "--out", "{out}", "--set", "milestones=[0.5, \"x\"]"], "expected milestones a list of numbers"),
    (["train", "--out", "{out}", "--model", "mlp", "--set", "model_kwargs.width=true"],
     "model 'mlp': expected width an integer, got True"),
    (["train", "--out", "{out}", "--method", "noise", "--set", "method_kwargs.sigma=\"big\""],
     "expected sigma a finite number, got 'big'"),
    # before: --poison-rate/--target without --poison trained a clean model, exit 0
    (["train", "--out", "{out}", "--poison-rate", "0.1", "--target", "3"], "expected --poison NAME with poison options"),
    # before: --poison badnets without a rate -> TypeError traceback
    (["train", "--out", "{out}", "--poison", "badnets"], "expected --poison-rate (poison_kwargs.rate) in (0, 1)"),
    # before: --poison-rate 1.0 passed the "(0, 1]" check, then failed elsewhere
    (["train", "--out", "{out}", "--poison", "badnets", "--poison-rate", "1.0"], "in (0, 1) with --poison badnets, got 1.0"),
    (["train", "--out", "{out}", "--poison", "badnets", "--poison-rate", "0.1", "--set", "poison_kwargs.size=\"3\""],
     "trigger 'badnets': expected size an integer, got '3'"),
])
def test_bad_numbers_are_one_line_before_any_work(digits_run, tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    _fails([a.format(run=digits_run, out=out) for a in args], needle, capsys, out)


@pytest.mark.parametrize("toml, needle", [
    # before: TypeError tracebacks
    ('model = "mlp"\n[model_kwargs]\nwidth = "wide"\n', "model 'mlp': expected width an integer, got 'wide'"),
    ("data_root = 5\n", "expected data_root a string, got 5"),
    ('normalize = "no"\n', "expected normalize true or false, got 'no'"),
    ("epochs = 2.5\n", "expected epochs an integer, got 2.5"),
    ("model_kwargs = 3\n", "expected model_kwargs a table, got 3"),
])
def test_toml_values_are_type_checked(tmp_path, capsys, toml, needle):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    out = tmp_path / "out"
    _fails(["train", "--out", str(out), "--config", str(path)], needle, capsys, out)


def test_bools_take_true_false_and_largest_seed_trains(tmp_path, capsys):
    """``--set normalize=false`` really turns normalization off (no mean/std in the model), and the
    largest allowed seed trains (the trainer's derived seeds no longer overflow)."""
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--model", "mlp", "--set", "model_kwargs.width=16", "--epochs", "1",
                 "--set", "normalize=false", "--set", "nesterov=false", "--seed", str(2 ** 63 - 1), "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["normalize"] is False and cfg["train"]["nesterov"] is False
    assert cfg["model"]["mean"] is None and cfg["model"]["std"] is None
    assert cfg["train"]["seed"] == 2 ** 63 - 1


def test_detect_meta_json_list_and_audit_data_shape(digits_run, tmp_path, capsys):
    meta = tmp_path / "meta.json"
    meta.write_text("[1, 2, 3]")
    # before: AttributeError traceback
    _fails(["detect", str(digits_run), "--method", "noise_response", "--meta", str(meta)],
           "expected a ProfileMeta JSON object (kind 'ProfileMeta'), got a JSON list", capsys)
    # before: `eval --data toy2d` caught the shape mismatch, `audit` did not
    out = tmp_path / "rep"
    _fails(["audit", str(digits_run), "--data", "toy2d", "--out", str(out), "--quiet"],
           "expected data of shape (1, 8, 8) for the model of", capsys, out)
