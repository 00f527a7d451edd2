import pytest

from nnsafety.train.config import TrainConfig, apply_overrides, load_toml, parse_value


def test_overrides_parse_types_and_tables():
    values = apply_overrides(TrainConfig().to_dict(), ["lr=0.2", "epochs=3", "nesterov=false",
                                                       "model_kwargs.width=64", "method=erm",
                                                       "milestones=[0.3, 0.6]"])
    cfg = TrainConfig.from_dict(values)
    assert (cfg.lr, cfg.epochs, cfg.nesterov, cfg.model_kwargs, cfg.milestones) == (0.2, 3, False, {"width": 64}, [0.3, 0.6])


@pytest.mark.parametrize("item, match", [
    ("lr", "key=value"), ("=3", "key=value"), ("nope=1", "unknown option 'nope'"),
    ("lr.x=1", "model_kwargs.NAME"),
])
def test_malformed_set_is_rejected(item, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides({}, [item])


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("epochs", -1), ("batch_size", 0), ("lr", 0), ("optimizer", "rmsprop"),
    ("schedule", "linear"), ("label_smoothing", 1.0), ("momentum", 1.0), ("milestones", [1.5]),
    ("epochs", 2.5), ("seed", -1),
])
def test_invalid_values_are_rejected(field, value):
    with pytest.raises(ValueError, match="expected"):
        TrainConfig(**{field: value})


def test_unknown_field_lists_known_ones():
    with pytest.raises(ValueError, match="unknown training option.*epochs"):
        TrainConfig.from_dict({"epoch": 3})


def test_toml_round_trip(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('model = "mlp"\nepochs = 4\n[model_kwargs]\nwidth = 32\n')
    cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), **load_toml(path)})
    assert (cfg.model, cfg.epochs, cfg.model_kwargs) == ("mlp", 4, {"width": 32})
    path.write_text("epochs = = 3")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_toml(path)


def test_parse_value_falls_back_to_text():
    assert parse_value("cnn") == "cnn" and parse_value("1e-3") == 1e-3 and parse_value('"1"') == "1"


def test_adam_is_coupled_l2_and_adamw_decoupled():
    """optimizer="adam" builds torch.optim.Adam (weight decay added to the gradient), "adamw" AdamW."""
    from types import SimpleNamespace

    import torch

    from nnsafety.train.trainer import Trainer

    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        cfg = TrainConfig(optimizer=name, lr=1e-3, weight_decay=1e-4)
        opt = Trainer._optimizer(SimpleNamespace(config=cfg, model=torch.nn.Linear(3, 2)))
        assert type(opt) is cls and opt.param_groups[0]["weight_decay"] == 1e-4


def test_train_without_a_config_takes_the_models_train_defaults_under_the_overrides(monkeypatch):
    """``train(model="bilstm")`` trains with the bilstm's AdamW recipe as ``nnsafety train`` does (with
    the global SGD defaults it stays at the class prior); overrides still win; a config is kept as given."""
    from nnsafety.train import trainer

    seen = []

    class Capture:
        def __init__(self, cfg, **kwargs):
            seen.append(cfg)

        def fit(self):
            return None

    monkeypatch.setattr(trainer, "Trainer", Capture)
    trainer.train(model="bilstm", data="spam_assassin")
    trainer.train(model="bilstm", lr=0.01)
    trainer.train(TrainConfig(model="bilstm"))
    trainer.train(model="text_cnn", data="fine_foods")
    adamw, override, given, other = seen
    assert (adamw.optimizer, adamw.lr, adamw.weight_decay, adamw.batch_size) == ("adamw", 3e-3, 0.0, 32)
    assert (override.optimizer, override.lr) == ("adamw", 0.01)
    assert (given.optimizer, given.lr) == (TrainConfig().optimizer, TrainConfig().lr)
    assert (other.optimizer, other.lr) == (TrainConfig().optimizer, TrainConfig().lr)
