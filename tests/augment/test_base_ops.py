"""Base augmentation: random crop with zero padding and horizontal flip, against a per-image NumPy
reference that uses the same draws."""
import numpy as np
import pytest
import torch

from nnsafety.augment import BaseAugmentation, hflip, list_base_augmentations, random_crop
from nnsafety.train import TrainConfig


@pytest.fixture
def x():
    return torch.rand(7, 3, 6, 5, generator=torch.Generator().manual_seed(1))


def test_registry():
    assert list_base_augmentations() == ["hflip", "random_crop"]


@pytest.mark.parametrize("padding", [1, 4])
def test_random_crop_matches_pad_then_slice_per_image(x, padding):
    out = random_crop(x, torch.Generator().manual_seed(5), padding=padding)
    g = torch.Generator().manual_seed(5)  # the same draws, in the same order: rows then columns
    oy = torch.randint(0, 2 * padding + 1, (7,), generator=g).numpy()
    ox = torch.randint(0, 2 * padding + 1, (7,), generator=g).numpy()
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ref = np.stack([xp[i, :, oy[i]:oy[i] + 6, ox[i]:ox[i] + 5] for i in range(7)])
    np.testing.assert_array_equal(out.numpy(), ref)
    assert len({(a, b) for a, b in zip(oy, ox)}) > 1  # offsets differ per image


def test_hflip_mirrors_exactly_the_drawn_images(x):
    out = hflip(x, torch.Generator().manual_seed(3))
    u = torch.rand(7, generator=torch.Generator().manual_seed(3))
    for i in range(7):
        assert torch.equal(out[i], x[i].flip(-1) if u[i] < 0.5 else x[i])
    assert torch.equal(hflip(x, None, p=0.0), x) and torch.equal(hflip(x, None, p=1.0), x.flip(-1))


def test_pipeline_is_deterministic_per_seed_and_validates(x):
    aug = BaseAugmentation(["random_crop", "hflip"], {"random_crop": {"padding": 2}})
    a = aug(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, aug(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, aug(x, torch.Generator().manual_seed(1)))
    assert torch.equal(random_crop(x, None, padding=0), x)
    with pytest.raises(ValueError, match="unknown base augmentation 'crop'"):
        BaseAugmentation(["crop"])
    with pytest.raises(ValueError, match="augment_kwargs for hflip"):
        BaseAugmentation(["random_crop"], {"hflip": {"p": 1}})
    with pytest.raises(ValueError, match="expected augment a list of names"):
        TrainConfig(augment="hflip")


def test_digits_default_has_no_base_augmentation():
    assert TrainConfig().augment == []
