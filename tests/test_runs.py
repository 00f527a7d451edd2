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


# ------------------------------------------------------- issue 15: hostile run folders, one line each

def _copy(small_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    return run


def _edit_config(run, edit):
    import json

    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(edit(cfg)))


@pytest.mark.parametrize("edit, needle", [
    (lambda c: {k: v for k, v in c.items() if k != "model"}, 'expected a "model" object'),
    (lambda c: [c], "expected a JSON object, got a JSON list"),
    (lambda c: {**c, "model": {**c["model"], "num_classes": 7}}, "size mismatch for head.weight"),
    (lambda c: {**c, "model": {**c["model"], "name": "cnn"}}, "does not match the model"),
    (lambda c: {**c, "model": {**c["model"], "num_classes": "ten"}}, "num_classes an integer >= 2, got 'ten'"),
    (lambda c: {**c, "model": {**c["model"], "in_shape": [1, 8]}}, "in_shape a list of 1 or 3 positive"),
    (lambda c: {**c, "model": {**c["model"], "kwargs": {"width": "wide"}}}, "expected width an integer"),
])
def test_broken_config_is_one_line_value_error(tmp_path, small_run, edit, needle):
    run = _copy(small_run, tmp_path)
    _edit_config(run, edit)
    with pytest.raises(ValueError) as e:
        load_run(run)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path, small_run, bad):
    """A valid safetensors file whose weights hold NaN/inf: before, eval printed "accuracy 0.0978,
    loss nan" and exit 0; now loading the run fails naming the tensor."""
    from safetensors.torch import load_file, save_file

    run = _copy(small_run, tmp_path)
    state = load_file(str(run / "model.safetensors"))
    state["head.bias"][3] = bad
    save_file(state, str(run / "model.safetensors"))
    with pytest.raises(ValueError, match=r"non-finite weights \(NaN or inf\) in 1 tensor\(s\): head.bias"):
        load_run(run)
    from nnsafety.cli import main

    assert main(["eval", str(run)]) == 2


def _damage_checkpoint(run, edit_meta=None, drop=None):
    import json

    from safetensors.torch import load_file, save_file

    path = run / "checkpoint" / "state.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["nnsafety"])
    tensors = load_file(str(path))
    if drop:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(drop)}
    if edit_meta:
        meta = edit_meta(meta)
    save_file(tensors, str(path), metadata={"nnsafety": json.dumps(meta)})


@pytest.mark.parametrize("edit_meta, drop, needle", [
    (lambda m: {**m, "epoch": "1"}, None, "metadata epoch missing or of the wrong type"),
    (lambda m: {**m, "accum": None}, None, "metadata accum missing"),
    (lambda m: {k: v for k, v in m.items() if k != "optim_scalars"}, None, "optim_param_groups/optim_scalars"),
    (None, "model/head.weight", "head.weight"),
    (None, "rng/", "no RNG state"),
])
def test_damaged_checkpoint_is_one_line_with_a_way_out(tmp_path, small_run, edit_meta, drop, needle, capsys):
    from nnsafety.cli import main

    run = _copy(small_run, tmp_path)
    (run / "model.safetensors").unlink()  # an unfinished run, resumable from its checkpoint
    _damage_checkpoint(run, edit_meta, drop)
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert needle in err and "pass --overwrite to start the run again" in err
