"""Issue 17 item 14: a run trained on a user's own module can be read back: in Python by passing a
fresh module to ``load_run``, on the command line by registering the builder and ``--import``."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from nnsafety import load_run
from nnsafety.data import load_dataset
from nnsafety.train import train


def _net():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def test_readme_snippet_run_reads_back_into_a_fresh_module(tmp_path):
    torch.manual_seed(0)
    net = _net()
    train_set, test_set = load_dataset("digits").subset(200), load_dataset("digits", split="test").subset(50)
    train(model=net, train_set=train_set, test_set=test_set, epochs=1, lr=0.05, out=tmp_path / "mine",
          progress=False)
    with pytest.raises(ValueError, match=r"load_run\(path, model=YourModule"):
        load_run(tmp_path / "mine")
    run = load_run(tmp_path / "mine", model=_net())
    x, _ = test_set.tensors()
    with torch.no_grad():
        assert torch.equal(run.model(x), net.eval()(x))
    wrong = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with pytest.raises(ValueError, match="does not match"):
        load_run(tmp_path / "mine", model=wrong)


@pytest.mark.slow  # three interpreters (~30 s under load); tests/test_readme.py's slow tier runs the same path
def test_registered_architecture_loads_on_the_command_line_with_import(tmp_path):
    (tmp_path / "mynets.py").write_text(textwrap.dedent('''
        from torch import nn
        from nnsafety.models import register_model

        @register_model("tiny_user_mlp")
        def tiny_user_mlp(num_classes, in_shape, width=16):
            return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, num_classes))
    '''))
    script = textwrap.dedent('''
        import mynets
        from nnsafety.data import load_dataset
        from nnsafety.train import train
        train(model="tiny_user_mlp", model_kwargs={"width": 12}, train_set=load_dataset("digits").subset(200),
              test_set=load_dataset("digits", split="test").subset(50), epochs=1, out="runs/mine", progress=False)
    ''')
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    cli = [sys.executable, "-m", "nnsafety.cli"]
    without = subprocess.run([*cli, "eval", "runs/mine", "--n", "50", "--json"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert without.returncode == 2 and "tiny_user_mlp" in without.stderr, without.stderr
    with_import = subprocess.run([*cli, "--import", "mynets", "eval", "runs/mine", "--n", "50", "--json"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert with_import.returncode == 0, with_import.stderr
    out = json.loads(with_import.stdout)
    assert out["n"] == 50 and 0 <= out["accuracy"] <= 1
    missing = subprocess.run([*cli, "--import", "no_such_module_x", "list"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no module named 'no_such_module_x'" in missing.stderr
