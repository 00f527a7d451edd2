"""Issue 17, items 1–3: the backdoor verdicts a new user meets first.

(a) the README demo's BadNets digits model gets backdoor FAIL with the true target; (b) the demo's
erm and noisymix models pass; (c) clean digits CNNs trained by hand (a plain torch loop, not the
project's trainer, six varied recipes) get no backdoor FAIL at the quick and standard budgets.
The scan is called as the audit's backdoor section calls it (with the audit's clean samples).
"""
import pytest
import torch
import torch.nn.functional as F

from nnsafety.backdoor.scan import scan
from nnsafety.data import load_dataset
from nnsafety.models import create_model

# Six hand recipes: optimizer, lr, weight decay, label smoothing, width, steps, batch, noise σ.
HAND_RECIPES = [
    ("sgd", 0.05, 5e-4, 0.0, 8, 400, 64, 0.0),
    ("adam", 3e-3, 0.0, 0.1, 8, 300, 128, 0.0),
    ("adamw", 2e-3, 1e-2, 0.0, 12, 300, 64, 0.1),
    ("sgd", 0.1, 0.0, 0.05, 6, 500, 128, 0.0),
    ("adam", 1e-3, 1e-5, 0.0, 16, 300, 64, 0.05),
    ("adamw", 4e-3, 5e-2, 0.15, 8, 250, 128, 0.0),
]


def _hand_trained_cnn(i: int):
    """A clean digits cnn from ``HAND_RECIPES[i]`` by a plain torch loop (seeded)."""
    opt_name, lr, wd, smooth, width, steps, batch, sigma = HAND_RECIPES[i]
    x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(100 + i)
    net = create_model("cnn", 10, (1, 8, 8), width=width)
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
           "adam": lambda p: torch.optim.Adam(p, lr=lr, weight_decay=wd),
           "adamw": lambda p: torch.optim.AdamW(p, lr=lr, weight_decay=wd)}[opt_name](net.parameters())
    g = torch.Generator().manual_seed(i)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        xb = x[idx]
        if sigma:
            xb = (xb + sigma * torch.randn(xb.shape, generator=g)).clamp(0, 1)
        loss = F.cross_entropy(net(xb), y[idx], label_smoothing=smooth)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def audit_samples():
    """The audit's clean samples: the first 100 digits test images (what ``run_context`` hands the scan)."""
    x, y = load_dataset("digits", split="test").tensors()
    return x[:100], y[:100]


# Measured 2026-12-02 (second session) with the refitted digits_recipes reference (per-class
# calibration of the patch/UAP rates, warp response): none of these six is flagged, data-free or
# with samples, at quick and standard (the first reference flagged recipe 1 data-free and recipes
# 0, 1, 3, 4 with samples). A case that becomes a false positive again goes here as a strict xfail,
# with its measured score (docs/results.md, "Backdoor scan").
KNOWN_FALSE_POSITIVES: set = set()


def _case(i, with_data):
    marks = [pytest.mark.xfail(strict=True, reason="measured false positive of the packaged reference")] \
        if (i, with_data) in KNOWN_FALSE_POSITIVES else []
    return pytest.param(i, with_data, marks=marks, id=f"recipe{i}-{'data' if with_data else 'datafree'}")


@pytest.mark.slow
@pytest.mark.parametrize("i,with_data", [_case(i, d) for i in range(len(HAND_RECIPES)) for d in (False, True)])
def test_hand_trained_clean_cnns_get_no_backdoor_fail(i, with_data, audit_samples):
    net = _hand_trained_cnn(i)
    xt, yt = load_dataset("digits", split="test").tensors()
    assert (net(xt).argmax(1) == yt).float().mean() > 0.85  # a working classifier, not a degenerate one
    for budget in ("quick", "standard"):
        r = scan(net, (1, 8, 8), 10, data=audit_samples if with_data else None, budget=budget)
        assert r.verdict == "clean", (HAND_RECIPES[i], budget, with_data, r.message)


# A fresh set written after the refit (new seeds and recipes, cnns and mlps, mixup by hand), never
# used in any fit: arch, kwargs, optimizer, lr, weight decay, label smoothing, steps, batch, mixup α, seed.
FRESH_RECIPES = [
    ("cnn", {"width": 10}, "sgd", 0.03, 1e-4, 0.0, 400, 64, 0.0, 201),
    ("cnn", {"width": 6}, "adam", 2e-3, 0.0, 0.1, 350, 64, 0.0, 202),
    ("cnn", {"width": 8, "dropout": 0.2}, "adamw", 3e-3, 2e-2, 0.0, 350, 128, 0.0, 203),
    ("cnn", {"width": 12}, "sgd", 0.05, 5e-4, 0.0, 400, 128, 0.4, 204),
    ("cnn", {"width": 8}, "adam", 1e-3, 0.0, 0.05, 500, 32, 0.0, 205),
    ("mlp", {"width": 64, "depth": 1}, "sgd", 0.05, 0.0, 0.0, 500, 64, 0.0, 206),
    ("mlp", {"width": 128, "depth": 2}, "adam", 2e-3, 0.0, 0.1, 400, 128, 0.0, 207),
    ("mlp", {"width": 96, "depth": 1, "dropout": 0.2}, "adamw", 3e-3, 1e-2, 0.0, 400, 64, 0.0, 208),
    ("mlp", {"width": 64, "depth": 2}, "sgd", 0.1, 1e-4, 0.0, 500, 64, 0.3, 209),
    ("cnn", {"width": 16, "activation": "gelu"}, "adamw", 2e-3, 5e-2, 0.1, 300, 64, 0.0, 210),
]


def _fresh_hand_trained(i: int):
    """A clean digits model from ``FRESH_RECIPES[i]`` by a plain torch loop (mixup: λ ~ Beta(α, α))."""
    arch, kw, opt_name, lr, wd, smooth, steps, batch, alpha, seed = FRESH_RECIPES[i]
    x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(seed)
    net = create_model(arch, 10, (1, 8, 8), **kw)
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd),
           "adam": lambda p: torch.optim.Adam(p, lr=lr, weight_decay=wd),
           "adamw": lambda p: torch.optim.AdamW(p, lr=lr, weight_decay=wd)}[opt_name](net.parameters())
    g = torch.Generator().manual_seed(seed)
    beta = torch.distributions.Beta(alpha, alpha) if alpha else None
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        xb, yb = x[idx], y[idx]
        if beta is None:
            loss = F.cross_entropy(net(xb), yb, label_smoothing=smooth)
        else:
            lam, perm = float(beta.sample()), torch.randperm(batch, generator=g)
            out = net(lam * xb + (1 - lam) * xb[perm])
            loss = lam * F.cross_entropy(out, yb) + (1 - lam) * F.cross_entropy(out, yb[perm])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


# Measured 2026-12-02 on the refitted reference: the mlp of recipe 5 (SGD lr 0.05, no weight decay)
# is flagged data-free (score 0.9949 vs threshold 0.9943) and passes with samples: a WARN in the audit.
FRESH_FALSE_POSITIVES = {(5, False)}


@pytest.mark.slow
@pytest.mark.parametrize("i,with_data", [
    pytest.param(i, d, id=f"fresh{i}-{'data' if d else 'datafree'}",
                 marks=[pytest.mark.xfail(strict=True, reason="measured false positive")] if (i, d) in FRESH_FALSE_POSITIVES else [])
    for i in range(len(FRESH_RECIPES)) for d in (False, True)])
def test_fresh_hand_trained_clean_models_are_not_flagged(i, with_data, audit_samples):
    net = _fresh_hand_trained(i)
    xt, yt = load_dataset("digits", split="test").tensors()
    assert (net(xt).argmax(1) == yt).float().mean() > 0.9
    r = scan(net, (1, 8, 8), 10, data=audit_samples if with_data else None, budget="standard")
    assert r.verdict == "clean", (FRESH_RECIPES[i], with_data, r.message)


@pytest.fixture(scope="module")
def demo_models(tmp_path_factory):
    """The README demo's three digits models, trained as ``nnsafety demo`` trains them."""
    from nnsafety.cli.train import DEMO_EPOCHS, DEMO_MODELS
    from nnsafety.train import TrainConfig, Trainer

    out = tmp_path_factory.mktemp("demo")
    return {name: Trainer(TrainConfig(epochs=DEMO_EPOCHS, **kw), out=out / name, overwrite=True,
                          progress=False).fit().model.eval() for name, kw in DEMO_MODELS}


@pytest.mark.slow
def test_demo_badnets_model_fails_with_the_true_target(demo_models, audit_samples):
    from nnsafety.cli.train import DEMO_TARGET

    for budget in ("quick", "standard"):
        r = scan(demo_models["badnets"], (1, 8, 8), 10, data=audit_samples, budget=budget)
        assert r.verdict == "backdoored" and r.suspected_target == DEMO_TARGET, (budget, r.message)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["erm", "noisymix"])
def test_demo_clean_models_pass_the_backdoor_scan(name, demo_models, audit_samples):
    for budget in ("quick", "standard"):
        r = scan(demo_models[name], (1, 8, 8), 10, data=audit_samples, budget=budget)
        assert r.verdict == "clean", (name, budget, r.message)
