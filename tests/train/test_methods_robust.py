"""Defining properties of the robust training methods, recomputed by hand from the same draws."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnsafety.augment import augmix, jsd_loss, mix, sample_box, sample_mix, cutmix
from nnsafety.models import create_model
from nnsafety.train.methods import StepContext, create_method, list_methods
from nnsafety.train.methods._common import draw_layer
from nnsafety.train.methods.adversarial import _KLObjective
from nnsafety.train.methods.augmix import augmix_views


def _ctx(model, seed=0, smoothing=0.0, k=10):
    return StepContext(model, torch.Generator().manual_seed(seed), k, smoothing)


def _twin(ctx):
    g = torch.Generator()
    g.set_state(ctx.generator.get_state())
    return g


class Recorder(nn.Module):
    """Identity-like stages with the mixing hook; records (k, input to hook, output of hook)."""

    def __init__(self, dim=6, stages=3, classes=4):
        super().__init__()
        self.stages = nn.ModuleList(nn.Linear(dim, dim) for _ in range(stages))
        self.head = nn.Linear(dim, classes)
        self.seen = []

    @property
    def mix_layers(self):
        return len(self.stages)

    def forward(self, x, mix_hook=None):
        self.seen, self.x_in = [], x.detach().clone()
        h = x.flatten(1)
        for k, stage in enumerate(self.stages):
            if mix_hook is not None:
                out = mix_hook(k, h)
                self.seen.append((k, h.detach().clone(), out.detach().clone()))
                h = out
            h = stage(h)
        self.logits = self.head(h)
        return self.logits


def test_mixup_loss_is_the_lambda_weighted_cross_entropies():
    model = create_model("mlp", 10, (1, 8, 8), width=16)
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    ctx = _ctx(model)
    g = _twin(ctx)
    out = create_method("mixup").loss(model, x, y, ctx)
    d = sample_mix(8, 1.0, g)
    z = model(d.lam * x + (1 - d.lam) * x[d.perm])
    ref = d.lam * F.cross_entropy(z, y) + (1 - d.lam) * F.cross_entropy(z, y[d.perm])
    assert 0 < d.lam < 1 and out.loss.item() == pytest.approx(ref.item(), rel=1e-6)


def test_cutmix_loss_weights_labels_by_box_area():
    model = create_model("cnn", 10, (1, 8, 8), width=4).eval()
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    ctx = _ctx(model, seed=3)
    g = _twin(ctx)
    out = create_method("cutmix").loss(model, x, y, ctx)
    d = sample_mix(8, 1.0, g)
    y0, y1, x0, x1 = sample_box(8, 8, d.lam, g)
    xm = x.clone()
    xm[:, :, y0:y1, x0:x1] = x[d.perm][:, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / 64
    z = model(xm)
    ref = lam * F.cross_entropy(z, y) + (1 - lam) * F.cross_entropy(z, y[d.perm])
    assert out.loss.item() == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_manifold_mixup_mixes_exactly_at_the_drawn_layer(seed):
    model = Recorder()
    x, y = torch.rand(5, 6), torch.tensor([0, 1, 2, 3, 0])
    ctx = _ctx(model, seed=seed, k=4)
    g = _twin(ctx)
    out = create_method("manifold_mixup").loss(model, x, y, ctx)
    k = draw_layer([0, 1, 2], g)
    d = sample_mix(5, 2.0, g)
    for j, h_in, h_out in model.seen:
        assert torch.allclose(h_out, mix(h_in, d) if j == k else h_in, atol=1e-6)
    z = model.logits
    ref = d.lam * F.cross_entropy(z, y) + (1 - d.lam) * F.cross_entropy(z, y[d.perm])
    assert out.loss.item() == pytest.approx(ref.item(), rel=1e-5)


def test_nfm_adds_noise_only_at_the_mixed_layer_and_reduces_to_manifold_mixup():
    model = Recorder()
    x, y = torch.rand(5, 6), torch.tensor([0, 1, 2, 3, 0])
    create_method("nfm").loss(model, x, y, _ctx(model, seed=1, k=4))
    moved = [j for j, h_in, h_out in model.seen if not torch.equal(h_in, h_out)]
    assert len(moved) == 1
    quiet = create_method("nfm", alpha=2.0, add_noise_level=0.0, mult_noise_level=0.0, layers=[0, 1, 2])
    a = quiet.loss(model, x, y, _ctx(model, seed=2, k=4)).loss
    b = create_method("manifold_mixup").loss(model, x, y, _ctx(model, seed=2, k=4)).loss
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_noisymix_shares_lambda_and_partner_across_views_and_adds_the_losses():
    model = Recorder(dim=64)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    m = create_method("noisymix", add_noise_level=0.0, mult_noise_level=0.0)
    ctx = _ctx(model, seed=5, k=4)
    g = _twin(ctx)
    out = m.loss(model, x, y, ctx)
    views = augmix_views(x, m, g)
    k = draw_layer([0, 1, 2], g)
    d = sample_mix(4, 1.0, g)
    assert torch.equal(views[:4], x)
    for j, h_in, h_out in model.seen:
        ref = torch.cat([mix(v, d) for v in h_in.chunk(3)]) if j == k else h_in
        assert torch.allclose(h_out, ref, atol=1e-6)
    clean, a1, a2 = model.logits.chunk(3)
    ref = d.lam * F.cross_entropy(clean, y) + (1 - d.lam) * F.cross_entropy(clean, y[d.perm])
    assert out.loss.item() == pytest.approx((ref + 12 * jsd_loss(clean, a1, a2)).item(), rel=1e-5)


def test_noisymix_additive_noise_grows_with_the_view_index():
    model = Recorder(dim=400, stages=1)  # k = 0 only; N×D input: three identical views
    m = create_method("noisymix", add_noise_level=0.5, mult_noise_level=0.0, sparse_level=0.65)
    x, y = torch.rand(2, 400), torch.tensor([0, 1])
    power = np.zeros(3)
    for seed in range(300):
        m.loss(model, x, y, _ctx(model, seed=seed, k=4))
        first, *rest = model.seen[0][2].chunk(3)
        # the views share the mixed clean part, so view differences are a_v − a_1
        for v, h in enumerate(rest, start=1):
            power[v] += (h - first).pow(2).mean().item() / 300
    # E[(a_v − a_1)²] = (v² + 1)·add²·E[b²]·(1 − sparse), E[b²] = 3/28 for Beta(2, 5)
    e = 0.25 * 3 / 28 * 0.35
    assert power[1] == pytest.approx(5 * e, rel=0.15)
    assert power[2] == pytest.approx(10 * e, rel=0.15)


def test_augmix_method_is_clean_ce_plus_12_jsd_and_keeps_the_clean_view():
    model = Recorder(dim=64)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    ctx = _ctx(model, seed=6, k=4)
    out = create_method("augmix").loss(model, x.clone(), y, ctx)
    clean, a1, a2 = model.logits.chunk(3)
    assert torch.equal(model.x_in[:4], x)
    assert not torch.equal(a1, clean) and not torch.equal(a1, a2)
    ref = F.cross_entropy(clean, y) + 12 * jsd_loss(clean, a1, a2)
    assert out.loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.equal(out.logits, clean)


def test_noise_baseline_is_ce_on_clipped_gaussian_noise():
    model = create_model("mlp", 10, (1, 8, 8), width=16)
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    ctx = _ctx(model)
    g = _twin(ctx)
    out = create_method("noise", sigma=0.2).loss(model, x, y, ctx)
    ref = F.cross_entropy(model((x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)), y)
    assert out.loss.item() == pytest.approx(ref.item(), rel=1e-6)


@pytest.fixture(scope="module")
def digits_mlp(fit_digits):
    """A small MLP trained on digits with a plain loop (≈ 95% test accuracy, ~1 s)."""
    from nnsafety.data import load_dataset

    model = fit_digits("mlp", steps=200, seed=0, batch=64, width=64).train()  # methods run in training mode
    xt, yt = load_dataset("digits", split="test").tensors()
    return model, xt[:64], yt[:64]


@pytest.mark.parametrize("name", ["pgd_at", "fast_at", "augmix_at"])
def test_adversarial_inner_loss_exceeds_the_unattacked_loss(name, digits_mlp):
    model, x, y = digits_mlp
    ctx = _ctx(model, seed=7)
    g = _twin(ctx)
    out = create_method(name).loss(model, x, y, ctx)
    base = augmix(x, generator=g) if name == "augmix_at" else x
    assert out.loss.item() > 2 * F.cross_entropy(model(base), y).item() + 0.1
    assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())


def test_trades_kl_objective_gives_the_same_ascent_direction_as_the_kl():
    torch.manual_seed(1)
    model = create_model("mlp", 10, (1, 8, 8), width=32).eval()
    x = torch.rand(16, 1, 8, 8)
    xp = (x + 0.05 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)
    obj = _KLObjective(model, x)
    (g1,) = torch.autograd.grad(F.cross_entropy(obj(xp), torch.zeros(16, dtype=torch.long), reduction="sum"), xp)
    p = F.softmax(model(x), 1).detach()
    kl = (p * (p.log() - F.log_softmax(model(xp), 1))).sum()
    (g2,) = torch.autograd.grad(kl, xp)
    assert torch.equal(g1.sign(), g2.sign())
    cos = F.cosine_similarity(g1.flatten(1), g2.flatten(1))
    assert torch.allclose(cos, torch.ones(16), atol=1e-5)


def test_trades_loss_is_ce_plus_beta_kl_and_the_attack_raises_the_kl(digits_mlp):
    model, x, y = digits_mlp
    out0 = create_method("trades", beta=0.0).loss(model, x, y, _ctx(model))
    assert out0.loss.item() == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-6)
    out = create_method("trades").loss(model, x, y, _ctx(model))
    kl_attacked = (out.loss.item() - out0.loss.item()) / 6
    noise = (x + 0.1 * (2 * torch.rand(x.shape) - 1)).clamp(0, 1)
    kl_random = F.kl_div(F.log_softmax(model(noise), 1), F.softmax(model(x), 1), reduction="batchmean").item()
    assert kl_attacked > 3 * kl_random > 0


@pytest.mark.parametrize("name,kw,match", [
    ("mixup", {"alpha": 0}, "alpha > 0"),
    ("cutmix", {"beta": -1}, "beta > 0"),
    ("manifold_mixup", {"layers": []}, "layers"),
    ("nfm", {"add_noise_level": -0.1}, "add_noise_level"),
    ("noisymix", {"sparse_level": 1.0}, "sparse_level"),
    ("augmix", {"depth": 0}, "depth"),
    ("noise", {"sigma": -1}, "sigma"),
    ("pgd_at", {"eps": 0}, "eps > 0"),
    ("pgd_at", {"norm": "L1"}, "norm"),
    ("trades", {"beta": -1}, "beta"),
    ("augmix_at", {"steps": 0}, "steps"),
])
def test_bad_hyper_parameters_fail_in_one_line(name, kw, match):
    with pytest.raises(ValueError, match=match) as err:
        create_method(name, **kw)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["manifold_mixup", "nfm", "noisymix", "manifold_mixup_jsd"])
def test_hidden_layer_methods_refuse_models_without_the_hook(name):
    plain = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ValueError, match="mix_hook"):
        create_method(name).check(plain)
    with pytest.raises(ValueError, match="range\\(3\\)"):
        create_method(name, layers=[0, 5]).check(create_model("cnn", 10, (1, 8, 8), width=4))


def test_image_only_methods_refuse_flat_inputs():
    model = create_model("mlp", 2, (2,), width=8)
    for name in ("cutmix", "augmix"):
        with pytest.raises(ValueError, match="N×C×H×W"):
            create_method(name).loss(model, torch.rand(4, 2), torch.tensor([0, 1, 0, 1]), _ctx(model, k=2))


def _train_steps(name, seed):
    torch.manual_seed(0)
    model = create_model("cnn", 10, (1, 8, 8), width=4)
    method = create_method(name)
    method.check(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ctx = _ctx(model, seed=seed)
    data = torch.Generator().manual_seed(1)
    for step in range(3):
        x, y = torch.rand(8, 1, 8, 8, generator=data), torch.randint(0, 10, (8,), generator=data)
        ctx.step = step
        loss = method.loss(model, x, y, ctx).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", [n for n in list_methods(domain="image") if n != "erm"])
def test_same_seed_gives_identical_weights(name):
    a, b = _train_steps(name, 11), _train_steps(name, 11)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    c = _train_steps(name, 12)
    assert any(not torch.equal(p, q) for p, q in zip(a, c))
