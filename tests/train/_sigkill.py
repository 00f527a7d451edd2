"""One SIGKILL-and-resume check shared by the image and text resume tests: train ``args`` in a real
CLI process, SIGKILL it once a mid-epoch checkpoint after the first epoch exists, resume it, train
an uninterrupted reference, and require bit-identical weights and metrics."""
import json
import signal
import subprocess
import time

from safetensors.torch import load_file


def train(python, env, out, *extra):
    return subprocess.Popen([python, "-m", "nnsafety.cli", "train", "--out", str(out), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def strip_times(path):
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_time_s"}
            for line in path.read_text().splitlines()]


def kill_resume_and_compare(python, env, tmp_path, args, epochs):
    """Returns (reference run dir, killed-and-resumed run dir) after checking they are equal."""
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    proc = train(python, env, killed, *args)
    state = killed / "checkpoint" / "state.json"
    deadline, meta = time.monotonic() + 300, None
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
    assert meta["epoch"] < epochs

    resumed = train(python, env, killed, "--resume", "--quiet")
    ref_proc = train(python, env, ref, *args)
    for p in (resumed, ref_proc):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err

    a, b = load_file(str(ref / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].equal(b[k]), f"{k} differs after resume"
    assert strip_times(ref / "metrics.jsonl") == strip_times(killed / "metrics.jsonl")
    return ref, killed
