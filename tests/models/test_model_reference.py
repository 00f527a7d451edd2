"""PreAct ResNet-18 and WRN against a from-the-paper functional forward written with F ops."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from nnsafety.models import create_model


def _bn(x, sd, p):
    return F.batch_norm(
        x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"],
        training=False, eps=1e-5,
    )


def _block(x, sd, p, stride):
    """He et al. (2016) pre-activation unit: x + F(BN-ReLU(x)); a projection reads BN-ReLU(x)."""
    a = F.relu(_bn(x, sd, p + ".bn1"))
    skip = F.conv2d(a, sd[p + ".shortcut.weight"], stride=stride) if p + ".shortcut.weight" in sd else x
    out = F.conv2d(a, sd[p + ".conv1.weight"], stride=stride, padding=1)
    out = F.conv2d(F.relu(_bn(out, sd, p + ".bn2")), sd[p + ".conv2.weight"], padding=1)
    return out + skip


def _reference(x, sd, groups, final_bn):
    """stem conv -> residual groups [(key prefix, n_blocks, stride)] -> BN-ReLU -> mean pool -> linear."""
    h = (x - sd["normalize.mean"]) / sd["normalize.std"]
    h = F.conv2d(h, sd["stages.0.0.weight"], padding=1)
    for prefix, n, stride in groups:
        for b in range(n):
            h = _block(h, sd, f"{prefix}.{b}", stride if b == 0 else 1)
    h = F.relu(_bn(h, sd, final_bn)).mean(dim=(2, 3))
    return h @ sd["head.weight"].T + sd["head.bias"]


def _trained_bn_state(model, in_shape):
    # Non-default running statistics make the reference check every BN, not just identity BNs.
    torch.manual_seed(0)
    with torch.no_grad():
        model.train()(torch.rand(16, *in_shape))
    return model.eval()


def test_preact_resnet18_matches_reference_forward():
    in_shape = (3, 32, 32)
    torch.manual_seed(1)
    model = create_model("preact_resnet18", 10, in_shape, mean=[0.4] * 3, std=[0.2] * 3, width=8)
    model = _trained_bn_state(model, in_shape)
    sd = model.state_dict()
    groups = [("stages.0.1", 2, 1), ("stages.1", 2, 2), ("stages.2", 2, 2), ("stages.3.0", 2, 2)]
    x = torch.rand(4, *in_shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference(x, sd, groups, "stages.3.1"), atol=1e-5, rtol=1e-4)


def test_wide_resnet_matches_reference_forward():
    in_shape = (1, 28, 28)
    torch.manual_seed(2)
    model = _trained_bn_state(create_model("wide_resnet", 5, in_shape, depth=16, widen_factor=2), in_shape)
    sd = model.state_dict()
    groups = [("stages.0.1", 2, 1), ("stages.1", 2, 2), ("stages.2.0", 2, 2)]
    x = torch.rand(3, *in_shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference(x, sd, groups, "stages.2.1"), atol=1e-5, rtol=1e-4)


def test_wide_resnet_init_follows_reference():
    """He-normal fan_out convs (std = sqrt(2 / (k·k·c_out))), BN = identity, zero linear bias."""
    torch.manual_seed(0)
    model = create_model("wide_resnet", 10, (3, 32, 32), depth=10, widen_factor=8)
    conv = model.stages[2][0][0].conv2  # 512 × 512 × 3 × 3: enough samples for a tight std check
    expected = (2.0 / (9 * conv.out_channels)) ** 0.5
    assert abs(conv.weight.std().item() / expected - 1) < 0.01
    assert abs(conv.weight.mean().item()) < 0.01 * expected
    bn = model.stages[2][1]
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias))
    assert torch.equal(model.head.bias, torch.zeros_like(model.head.bias))
