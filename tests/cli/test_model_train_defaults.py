"""``nnsafety train``: a model's ``train_defaults`` sit under --config, flags and --set."""
from __future__ import annotations

from nnsafety.cli import build_parser
from nnsafety.cli.train import train_config
from nnsafety.train import TrainConfig


def _config(*argv):
    return train_config(build_parser().parse_args(["train", "--out", "unused", *argv]))


def test_bilstm_brings_its_recipe_and_the_user_still_wins(tmp_path):
    base = TrainConfig()
    c = _config("--data", "spam_assassin", "--model", "bilstm")
    assert (c.optimizer, c.lr, c.weight_decay, c.batch_size) == ("adamw", 3e-3, 0.0, 32)
    assert c.epochs == base.epochs and c.schedule == base.schedule  # only the named options change
    assert _config("--model", "bilstm", "--lr", "0.01").lr == 0.01
    assert _config("--model", "bilstm", "--set", "optimizer=sgd").optimizer == "sgd"
    toml = tmp_path / "c.toml"
    toml.write_text('model = "bilstm"\nbatch_size = 8\n')
    c = _config("--config", str(toml))
    assert (c.optimizer, c.batch_size) == ("adamw", 8)
    # a model without a recipe keeps the global defaults
    c = _config("--data", "fine_foods", "--model", "text_cnn")
    assert (c.optimizer, c.lr, c.batch_size) == (base.optimizer, base.lr, base.batch_size)
