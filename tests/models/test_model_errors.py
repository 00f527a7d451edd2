"""Bad arguments to create_model fail with one clear ValueError; parameter counts match the papers."""
from __future__ import annotations

import pytest

from nnsafety.models import create_model, list_models


def test_unknown_model_lists_the_known_names():
    with pytest.raises(ValueError) as err:
        create_model("resnet9000", 10, (3, 32, 32))
    msg = str(err.value)
    assert "resnet9000" in msg
    assert all(name in msg for name in list_models())


@pytest.mark.parametrize("name", list_models(domain="image"))
def test_bad_arguments(make_model, name):
    with pytest.raises(ValueError, match="num_classes"):
        make_model(name, num_classes=1)
    for bad_shape in [(0, 8, 8), (3, 8), (), (1, 1, 8, 8)]:
        with pytest.raises(ValueError, match="in_shape"):
            make_model(name, in_shape=bad_shape)
    with pytest.raises(ValueError, match="mean/std"):
        make_model(name, in_shape=(3, 8, 8), mean=[0.5], std=[0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="mean/std"):
        make_model(name, in_shape=(1, 8, 8), mean=[0.5], std=[0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="std"):
        make_model(name, in_shape=(1, 8, 8), mean=[0.5], std=[0.0])


@pytest.mark.parametrize("name", ["mlp", "cnn", "preact_resnet18"])
def test_bad_width(name):
    with pytest.raises(ValueError, match="width"):
        create_model(name, 10, (1, 8, 8), width=0)


@pytest.mark.parametrize("depth", [4, 27, 30, 8])
def test_wide_resnet_bad_depth(depth):
    with pytest.raises(ValueError, match=r"6n \+ 4.*got " + str(depth)):
        create_model("wide_resnet", 10, (3, 32, 32), depth=depth, widen_factor=1)


def test_wide_resnet_bad_widen_factor_and_dropout():
    with pytest.raises(ValueError, match="widen_factor"):
        create_model("wide_resnet", 10, (3, 32, 32), depth=10, widen_factor=0)
    with pytest.raises(ValueError, match="dropout"):
        create_model("wide_resnet", 10, (3, 32, 32), depth=10, widen_factor=1, dropout=1.0)


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _preact18_count(c_in, w, classes):
    """Closed form: stem + 8 PreActBlocks (BN, conv, BN, conv, 1×1 shortcut when shape changes)."""
    total, prev = 9 * c_in * w, w
    for c in (w, 2 * w, 4 * w, 8 * w):
        for cin in (prev, c):
            total += 2 * cin + 9 * cin * c + 2 * c + 9 * c * c + (cin * c if cin != c else 0)
        prev = c
    return total + 2 * 8 * w + 8 * w * classes + classes  # final BN, linear head


def _wrn_count(c_in, depth, k, classes):
    n, total, prev = (depth - 4) // 6, 9 * c_in * 16, 16
    for i, c in enumerate((16 * k, 32 * k, 64 * k)):
        for b in range(n):
            cin = prev if b == 0 else c
            shortcut = cin * c if (cin != c or (b == 0 and i > 0)) else 0
            total += 2 * cin + 9 * cin * c + 2 * c + 9 * c * c + shortcut
        prev = c
    return total + 2 * 64 * k + 64 * k * classes + classes


def test_preact_resnet18_parameter_count():
    model = create_model("preact_resnet18", 10, (3, 32, 32))
    # 11,171,146 is the count of the popular kuangliu/NoisyMix code, which omits the final BN
    # before pooling; He et al. (2016) and Madry/Rice-style PreActResNet18 keep it: 2 × 512 more.
    assert _count(model) == _preact18_count(3, 64, 10) == 11_171_146 + 2 * 512
    small = create_model("preact_resnet18", 100, (1, 28, 28), width=8)
    assert _count(small) == _preact18_count(1, 8, 100)


@pytest.mark.parametrize(
    "depth,k,expected",
    [(28, 10, 36_479_194), (40, 2, None), (28, 4, None), (16, 8, None)],
)
def test_wide_resnet_parameter_count(depth, k, expected):
    model = create_model("wide_resnet", 10, (3, 32, 32), depth=depth, widen_factor=k)
    assert _count(model) == _wrn_count(3, depth, k, 10)
    if expected is not None:  # WRN-28-10 as reported for the reference PyTorch code (36.5M)
        assert _count(model) == expected


@pytest.mark.parametrize("name", list_models(domain="image"))
def test_unknown_keyword_is_refused(make_model, name):
    with pytest.raises(ValueError, match="no_such_arg"):
        make_model(name, no_such_arg=1)
