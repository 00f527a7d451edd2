import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from nnsafety import load_run, runs
from nnsafety.train import TrainConfig, train

SRC = Path(__file__).resolve().parents[1] / "src"


class _Payload:
    """Unpickling this runs code: it must never happen when loading a run or checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    train(TrainConfig(model="mlp", model_kwargs={"width": 16}, epochs=1), out=out, progress=False)
    return out


@pytest.mark.parametrize("target", ["model.safetensors", "checkpoint/state.safetensors"])
def test_malicious_pickle_is_refused_without_running(tmp_path, small_run, target):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    marker = tmp_path / "pwned"
    (run / target).write_bytes(pickle.dumps({"state": _Payload(marker)}))
    # also what torch.save would produce: a zip archive holding a pickle
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        if target == "model.safetensors":
            load_run(run)
        else:
            train(out=run, resume=True, progress=False)
    torch.save({"x": _Payload(marker)}, run / target)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        runs.load_tensors(run / target)
    assert not marker.exists()


def test_no_unsafe_torch_load_in_the_package():
    offenders = []
    for path in SRC.rglob("*.py"):
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text()):
            if "weights_only=True" not in call:
                offenders.append(f"{path}: {call}")
    assert offenders == []


def test_torn_metrics_line_is_ignored(tmp_path):
    runs.append_metrics(tmp_path, {"epoch": 1})
    with open(tmp_path / runs.METRICS, "a") as f:
        f.write('{"epoch": 2, "te')
    assert runs.read_metrics(tmp_path) == [{"epoch": 1}]


def test_load_run_rejects_weights_of_another_model(tmp_path, small_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    runs.save_tensors_atomic(run / "model.safetensors", {"other.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match="does not match the model"):
        load_run(run)


def test_load_run_on_a_non_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_run(tmp_path)
