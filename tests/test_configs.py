"""The shipped recipes in configs/ parse into valid training configs of registered entries."""
from pathlib import Path

import pytest

from nnsafety.models import create_model, list_models
from nnsafety.train import TrainConfig, list_methods, load_toml

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_recipe_is_valid(path):
    cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), **load_toml(path)})
    assert cfg.model in list_models() and cfg.method in list_methods()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.schedule) == (200, 128, 0.1, 5e-4, "cosine")
    assert cfg.augment == ["random_crop", "hflip"] and cfg.augment_kwargs == {}  # padding 4, p = 0.5: the reference
    model = create_model(cfg.model, 10, (3, 32, 32), **cfg.model_kwargs)
    n_params = sum(p.numel() for p in model.parameters())
    # WRN-28-4 has 5.85 M parameters, PreActResNet-18 11.2 M (CIFAR-10 head)
    assert n_params == {"wide_resnet": 5_849_050, "preact_resnet18": 11_172_170}[cfg.model]


def test_there_are_recipes():
    assert len(CONFIGS) == 8
