import json
import subprocess

import pytest

from nnsafety.cli import main


def _run(python, env, *args):
    return subprocess.run([python, "-m", "nnsafety.cli", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, needle", [
    (["train", "--out", "{out}", "--model", "nope"], "unknown model 'nope'; expected one of:"),
    (["train", "--out", "{out}", "--data", "nope"], "expected one of: cifar10"),
    (["train", "--out", "{out}", "--method", "nope"], "unknown method 'nope'; expected one of:"),
    (["train", "--out", "{out}", "--epochs", "0"], "epochs a positive integer"),
    (["train", "--out", "{out}", "--epochs", "-3"], "epochs a positive integer"),
    (["train", "--out", "{out}", "--set", "lr"], "key=value"),
    (["train", "--out", "{out}", "--set", "nope=1"], "unknown option"),
    (["train", "--out", "{out}", "--data", "cifar10"], "needs --data-root"),
    (["train", "--out", "{out}", "--data", "mnist", "--data-root", "{tmp}"], "train-images-idx3-ubyte"),
    (["train", "--out", "{out}", "--config", "{tmp}/missing.toml"], "missing.toml"),
    (["train", "--out", "{out}", "--set", "model_kwargs.depth=0"], "depth"),
    (["train", "--out", "{out}", "--set", "model_kwargs.colour=1"], "unknown argument"),
    (["train", "--out", "{out}", "--epochs", "two"], "invalid int value"),
    (["eval", "{tmp}"], "config.json"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, needle, capsys):
    out = tmp_path / "out"
    argv = [a.format(out=out, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert "Traceback" not in err
    assert not out.exists()


def test_existing_run_dir_needs_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert main(["train", "--out", str(out), "--epochs", "1"]) == 2
    assert "pass --overwrite to start it again" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["config.json"]


def test_train_then_eval_json_from_a_real_process(tmp_path, python, cli_env):
    out = tmp_path / "run"
    toml = tmp_path / "c.toml"
    toml.write_text('model = "mlp"\nepochs = 5\n[model_kwargs]\nwidth = 32\n')
    done = _run(python, cli_env, "train", "--out", str(out), "--config", str(toml), "--set", "lr=0.1", "--json")
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout.strip().splitlines()[-1])
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["lr"] == 0.1 and config["model"]["kwargs"] == {"width": 32}
    ev = _run(python, cli_env, "eval", str(out), "--json")
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)
    assert result["accuracy"] == pytest.approx(trained["test_acc"], abs=1e-6)
    assert result["n"] == 450 and 0 <= result["ece"] <= 1
    assert 0 <= result["ece_scaled"] <= 1 and result["temperature"] > 0
    text = _run(python, cli_env, "eval", str(out))
    assert f"ECE {result['ece']:.4f} ({result['ece_scaled']:.4f} after temperature scaling" in text.stdout


def test_eval_on_data_of_the_wrong_shape(tmp_path, capsys):
    from nnsafety.train import TrainConfig, train

    train(TrainConfig(model="mlp", epochs=1), out=tmp_path / "r", progress=False)
    assert main(["eval", str(tmp_path / "r"), "--data", "toy2d"]) == 2
    assert "expected data of shape" in capsys.readouterr().err


def test_list_and_help(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "models: " in out and "cnn" in out and "methods: " in out and "erm" in out
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    assert "(default: 30)" in capsys.readouterr().out
