"""Requirement 6: the same command under torchrun (2 CPU processes, gloo) trains the same model."""
import json
import subprocess

from nnsafety import load_run

ARGS = ["--model", "mlp", "--epochs", "12", "--quiet", "--json"]


def test_torchrun_two_processes_matches_one(tmp_path, python, cli_env):
    one, two = tmp_path / "one", tmp_path / "two"
    single = subprocess.run([python, "-m", "nnsafety.cli", "train", "--out", str(one), *ARGS],
                            env=cli_env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "nnsafety.cli", "train", "--out", str(two), *ARGS],
                         env=cli_env, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    acc_one = json.loads(single.stdout.strip().splitlines()[-1])["test_acc"]
    # rank 0 alone prints and writes: exactly one JSON line, one config, one line per epoch
    lines = [line for line in ddp.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    acc_two = json.loads(lines[0])["test_acc"]
    config = json.loads((two / "config.json").read_text())
    assert config["world_size"] == 2
    assert len((two / "metrics.jsonl").read_text().splitlines()) == 12
    assert abs(acc_one - acc_two) <= 0.03 and acc_two >= 0.93, (acc_one, acc_two)
    run = load_run(two)  # the DDP run's weights load into a plain model
    assert run.metrics[-1]["test_acc"] == acc_two


def test_distributed_false_trains_alone_under_torchrun_variables(monkeypatch):
    """The zoo's ranks train different models: ``distributed=False`` must not join (or wait for) a
    process group even when torchrun's variables say there are two processes."""
    from nnsafety.train import TrainConfig, train

    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(k, v)
    res = train(TrainConfig(model="mlp", epochs=1), distributed=False, progress=False)
    import torch.distributed as dist

    assert not dist.is_initialized() and 0.0 <= res.final["test_acc"] <= 1.0
