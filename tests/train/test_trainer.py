import json

import pytest
import torch
from torch import nn

from nnsafety import load_run
from nnsafety.data import ArrayDataset, load_dataset
from nnsafety.train import TrainConfig, train

FAST = dict(model="mlp", model_kwargs={"width": 64}, epochs=3, batch_size=64)


@pytest.mark.parametrize("model, bar", [("cnn", 0.97), ("mlp", 0.96)])
def test_default_demo_recipe_reaches_accuracy_bar(model, bar):
    """Requirement 8: the default (demo) recipe, fixed seed, on the fixed digits split."""
    result = train(TrainConfig(model=model), progress=False)
    assert result.final["test_acc"] >= bar, result.final


def test_same_seed_same_weights_other_seed_differs():
    a = train(TrainConfig(**FAST, seed=3), progress=False).model.state_dict()
    b = train(TrainConfig(**FAST, seed=3), progress=False).model.state_dict()
    c = train(TrainConfig(**FAST, seed=4), progress=False).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_run_directory_layout_and_load_run(tmp_path):
    out = tmp_path / "run"
    result = train(TrainConfig(**FAST), out=out, progress=False)
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "mlp" and config["model"]["kwargs"] == {"width": 64}
    assert config["data"]["n_train"] == 1347 and config["method"]["name"] == "erm"
    assert set(config["versions"]) == {"nnsafety", "torch", "python"}
    # normalization is the model's first layer, with the training set's statistics
    assert config["model"]["mean"][0] == pytest.approx(float(load_dataset("digits").tensors()[0].mean()), abs=1e-5)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["test_acc"] == result.final["test_acc"]
    assert (out / "checkpoint" / "state.safetensors").is_file()
    run = load_run(out)
    x, _ = load_dataset("digits", split="test").tensors()
    assert torch.equal(run.model(x), result.model(x))
    assert [r["epoch"] for r in run.metrics] == [1, 2, 3]


def test_trains_a_users_own_module_on_in_memory_data():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, 5, generator=gen)
    y = (x[:, 0] > x[:, 1]).long()
    data = ArrayDataset(x, y, ["a", "b"], name="toy")
    net = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 2))
    result = train(model=net, train_set=data, test_set=data, epochs=20, batch_size=32, lr=0.1, progress=False)
    assert result.model is net
    assert result.final["test_acc"] > 0.9


def test_adamw_and_label_smoothing_train():
    smooth = train(TrainConfig(**FAST, optimizer="adamw", lr=5e-3, label_smoothing=0.1), progress=False)
    plain = train(TrainConfig(**FAST, optimizer="adamw", lr=5e-3), progress=False)
    # label smoothing keeps the training loss away from 0: at least the entropy of the smoothed target
    assert smooth.final["train_loss"] > plain.final["train_loss"]
    assert smooth.final["test_acc"] > 0.85 and plain.final["test_acc"] > 0.85


def test_existing_run_directory_is_refused_untouched(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    for overwrite in (False, True):  # not a run directory: --overwrite must not delete it either
        with pytest.raises(ValueError, match="not a run directory"):
            train(TrainConfig(**FAST), out=out, overwrite=overwrite, progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="expected a checkpoint"):
        train(TrainConfig(**FAST), out=tmp_path / "none", resume=True, progress=False)


def test_nan_loss_stops_with_a_clear_error():
    with pytest.raises(ValueError, match="training diverged: the training loss became nan in epoch 1"):
        train(TrainConfig(**FAST, lr=1e6, momentum=0.0), progress=False)
