"""Requirement 5: a run killed with SIGKILL mid-epoch and resumed equals an uninterrupted run,
bit for bit. Both runs are real subprocesses of the CLI with the same environment; the base
augmentation (random crop + flip) is on, so its draws must resume exactly too."""
import json
import signal
import subprocess
import time

from safetensors.torch import load_file

ARGS = ["--model", "cnn", "--set", "model_kwargs.width=16", "--set", "model_kwargs.dropout=0.2",
        "--epochs", "6", "--batch-size", "64", "--checkpoint-every", "3", "--seed", "11", "--quiet",
        "--set", 'augment=["random_crop", "hflip"]', "--set", 'augment_kwargs={"random_crop": {"padding": 2}}']


def _train(python, env, out, *extra):
    return subprocess.Popen([python, "-m", "nnsafety.cli", "train", "--out", str(out), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _strip_times(path):
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_time_s"}
            for line in path.read_text().splitlines()]


def test_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path, python, cli_env):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    proc = _train(python, cli_env, killed, *ARGS)
    state = killed / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    meta = None
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists():
            try:
                meta = json.loads(state.read_text())
            except json.JSONDecodeError:
                meta = None
            # kill only once a mid-epoch checkpoint after the first epoch exists
            if meta and meta["epoch"] >= 1 and meta["step_in_epoch"] > 0:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"training ended before it could be killed: {proc.stderr.read()}"
    assert meta["epoch"] < 6

    resumed = _train(python, cli_env, killed, "--resume", "--quiet")
    ref_proc = _train(python, cli_env, ref, *ARGS)
    for p in (resumed, ref_proc):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err

    a, b = load_file(str(ref / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].equal(b[k]), f"{k} differs after resume"
    assert _strip_times(ref / "metrics.jsonl") == _strip_times(killed / "metrics.jsonl")


def test_resume_refuses_new_training_options(tmp_path, python, cli_env):
    out = tmp_path / "r"
    p = _train(python, cli_env, out, "--model", "mlp", "--epochs", "1", "--quiet")
    assert p.wait() == 0
    p = _train(python, cli_env, out, "--resume", "--lr", "0.3")
    _, err = p.communicate()
    assert p.returncode == 2 and "--lr" in err and len(err.strip().splitlines()) == 1
