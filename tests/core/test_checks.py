"""The one entry check of every public function that runs a classifier (issue 15, items 2, 7, 11):
bad inputs give one clear ValueError instead of silent numbers, and a model in train mode is never
run in train mode (BatchNorm buffers stay put)."""
import pytest
import torch
from torch import nn

from nnsafety import audit
from nnsafety.attacks import pgd, robust_accuracy
from nnsafety.corruptions import evaluate_corruptions
from nnsafety.metrics import evaluate, noise_response
from nnsafety.models import create_model


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    m = create_model("cnn", num_classes=10, in_shape=(1, 8, 8))
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
    return m


@pytest.fixture
def xy():
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 1, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g)


def _calls(model, x, y):
    return {
        "evaluate": lambda: evaluate(model, (x, y)),
        "robust_accuracy": lambda: robust_accuracy(model, x, y, "pgd", eps=0.1, steps=1, progress=False),
        "noise_response": lambda: noise_response(model, x, y, n_probes=8, levels=[0.0, 0.5]),
        "corruptions": lambda: evaluate_corruptions(model, (x, y), corruptions=["fog"], severities=[1]),
        "audit": lambda: audit(model, (x, y), only=["accuracy"], progress=False),
    }


CASES = {
    "nan_inputs": (lambda x, y: (x.masked_fill(x > 0.9, float("nan")), y), "NaN values"),
    "pixel_range_255": (lambda x, y: (x * 255, y), r"in \[0, 1\]"),
    "labels_out_of_range": (lambda x, y: (x, y + 10), r"labels in \[0, 10\)"),
    "labels_wrong_dtype": (lambda x, y: (x, y.float()), "int64 tensor|integer class labels"),
    "flat_input_to_a_conv_model": (lambda x, y: (x.flatten(1), y), "cannot take inputs of shape"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fn", ["evaluate", "robust_accuracy", "noise_response", "corruptions", "audit"])
def test_bad_inputs_fail_with_one_clear_error(cnn, xy, case, fn):
    make, match = CASES[case]
    x, y = make(*xy)
    with pytest.raises(ValueError, match=match):
        _calls(cnn, x, y)[fn]()


def test_fewer_outputs_than_labels_and_non_logit_outputs(xy):
    x, y = xy
    five = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    with pytest.raises(ValueError, match=r"labels in \[0, 5\) \(the model has 5 outputs\)"):
        robust_accuracy(five, x, y, "pgd", eps=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="expected the model to return logits .* got tuple"):
        evaluate(nn.Sequential(nn.Flatten(), nn.Linear(64, 10), _Pair()), (x, y))
    soft = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Softmax(dim=1))
    with pytest.warns(UserWarning, match="look like probabilities"):
        evaluate(soft, (x, y))
    broken = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        broken[1].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf logits"):
        evaluate(broken, (x, y))


class _Pair(nn.Module):
    def forward(self, z):
        return z, z


def test_pgd_refuses_nan_images(cnn, xy):
    x, y = xy
    with pytest.raises(ValueError, match="NaN"):
        pgd(cnn, x.masked_fill(x > 0.5, float("nan")), y, eps=0.1)


def test_a_train_mode_model_with_frozen_batchnorm_comes_back_as_it_was(cnn, xy):
    cnn.train()
    bns = [m for m in cnn.modules() if isinstance(m, nn.BatchNorm2d)]
    bns[0].eval()
    stats = [b.running_mean.clone() for b in bns]
    for fn in _calls(cnn, *xy).values():
        fn()
    assert cnn.training and not bns[0].training and all(b.training for b in bns[1:])
    assert all(torch.equal(s, b.running_mean) for s, b in zip(stats, bns))
    cnn.eval()
