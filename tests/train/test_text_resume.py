"""A text run (text_cnn + NoisyMix on token ids) killed with SIGKILL mid-epoch and resumed equals an
uninterrupted run bit for bit: ids, text AugMix views, embedding mixing and noise all draw from the
checkpointed generator."""
import json
import random
import signal
import subprocess
import time

import pytest
from safetensors.torch import load_file

WORDS = "the a this it was is and very of food box item taste price bag".split()


def _train(python, env, out, *extra):
    return subprocess.Popen([python, "-m", "nnsafety.cli", "train", "--out", str(out), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _strip_times(path):
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_time_s"}
            for line in path.read_text().splitlines()]


def _corpus(root):
    rng = random.Random(0)
    for split, n in (("train", 160), ("test", 40)):
        rows = []
        for i in range(n):
            words = rng.choices(WORDS, k=rng.randint(3, 9)) + [rng.choice(["good", "bad"])]
            rng.shuffle(words)
            rows.append(json.dumps({"text": " ".join(words), "label": "pos" if "good" in words else "neg"}))
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")


@pytest.mark.slow  # three CLI processes: ~50 s on the shared 2-core machine
def test_text_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path, python, cli_env):
    _corpus(tmp_path)
    args = ["--data", "text_files", "--data-root", str(tmp_path), "--model", "text_cnn", "--method", "noisymix",
            "--set", "model_kwargs.embed_dim=16", "--set", "model_kwargs.maps=8", "--epochs", "6",
            "--batch-size", "16", "--checkpoint-every", "3", "--seed", "5", "--quiet"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    proc = _train(python, cli_env, killed, *args)
    state = killed / "checkpoint" / "state.json"
    deadline, meta = time.monotonic() + 300, None
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists():
            try:
                meta = json.loads(state.read_text())
            except json.JSONDecodeError:
                meta = None
            if meta and meta["epoch"] >= 1 and meta["step_in_epoch"] > 0:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"training ended before it could be killed: {proc.stderr.read()}"
    resumed = _train(python, cli_env, killed, "--resume", "--quiet")
    ref_proc = _train(python, cli_env, ref, *args)
    for p in (resumed, ref_proc):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    assert _strip_times(ref / "metrics.jsonl") == _strip_times(killed / "metrics.jsonl")
    assert (killed / "vocab.json").read_text() == (ref / "vocab.json").read_text()
