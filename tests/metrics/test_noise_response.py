import json
import math

import pytest
import torch

from nnsafety.metrics.noise_response import (
    NoiseResponse, gaussian_noise, list_noise_families, noise_response, salt_and_pepper_noise,
)
from ._trained import digits_data, digits_mlp


@pytest.fixture(scope="module")
def models():
    return digits_mlp(seed=0), digits_mlp(seed=0, poison_class=3)


def _slow_reference(model, x, y, levels, gamma):
    """Per-level loop with the contrast family written out per image (independent of the batching)."""
    rows = []
    with torch.no_grad():
        p0 = model(x).argmax(1)
        for lv in levels:
            xs = []
            for img in x:
                m = img.mean(dim=(1, 2), keepdim=True)
                xs.append(m + (1 - lv) * (img - m))
            p = torch.softmax(model(torch.stack(xs)).double(), 1)
            conf, pred = p.max(1)
            ent = -(p * p.clamp_min(1e-300).log()).sum(1)
            hist = torch.tensor([(pred == k).double().mean().item() for k in range(10)])
            sure = torch.tensor([((pred == k) & (conf > gamma)).double().mean().item() for k in range(10)])
            rows.append(dict(acc=(pred == y).double().mean().item(), conf=conf.mean().item(),
                             flip=(pred != p0).double().mean().item(), ent=ent.mean().item(),
                             hist=hist, sure=sure))
    return rows


def test_batched_sweep_matches_per_level_loop(models):
    model = models[0]
    _, (xt, yt) = digits_data()
    x, y = xt[:200], yt[:200]
    levels = [0.0, 0.2, 0.5, 0.8, 1.0]
    # batch_size 333 makes chunks straddle level boundaries
    r = noise_response(model, x, y, family="contrast", levels=levels, n_probes=200, batch_size=333)
    ref = _slow_reference(model, x, y, levels, 0.9)
    for i, row in enumerate(ref):
        assert r.accuracy[i] == pytest.approx(row["acc"], abs=1e-12)
        assert r.flip_rate[i] == pytest.approx(row["flip"], abs=1e-12)
        assert r.mean_confidence[i] == pytest.approx(row["conf"], abs=1e-5)
        assert r.mean_entropy[i] == pytest.approx(row["ent"], abs=1e-4)
        assert torch.allclose(torch.tensor(r.class_fraction[i]), row["hist"].float(), atol=1e-6)
        assert torch.allclose(torch.tensor(r.confident_fraction[i]), row["sure"].float(), atol=1e-6)
    acc = [row["acc"] for row in ref]
    auc = sum((levels[i + 1] - levels[i]) * (acc[i] + acc[i + 1]) / 2 for i in range(4)) / 1.0
    assert r.accuracy_auc == pytest.approx(auc, abs=1e-9)
    assert r.flip_rate[0] == 0.0


def test_half_accuracy_level_interpolates(models):
    _, (xt, yt) = digits_data()
    r = noise_response(models[0], xt, yt, family="gaussian", n_probes=450)
    a, lv = r.accuracy, r.levels
    i = next(i for i in range(1, len(a)) if a[i] <= a[0] / 2)
    expected = lv[i - 1] + (a[i - 1] - a[0] / 2) / (a[i - 1] - a[i]) * (lv[i] - lv[i - 1])
    assert r.half_accuracy_level == pytest.approx(expected)
    assert a[0] > 0.9 and a[-1] < a[0]


@pytest.mark.parametrize("data_free", [False, True])
def test_noise_backdoor_flagged_with_its_class(models, data_free):
    clean, poisoned = models
    _, (xt, yt) = digits_data()
    kw = dict(in_shape=(1, 8, 8)) if data_free else dict(x=xt, y=yt)
    rc = noise_response(clean, **kw)
    rp = noise_response(poisoned, **kw)
    assert rp.flagged and rp.collapse_class == 3 and rp.collapse_score > 0.8
    assert not rc.flagged and rp.collapse_score - rc.collapse_score > 0.4


def test_noise_samplers_have_their_stated_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.full((400, 1, 16, 16), 0.5)
    lv = torch.full((400,), 0.1)
    out = gaussian_noise(x, lv, g)
    assert (out - 0.5).std().item() == pytest.approx(0.1, rel=0.02)  # 0.5 ± 0.1 is never clipped
    sp = salt_and_pepper_noise(x, torch.full((400,), 0.3), g)
    hit = (sp != 0.5).double().mean().item()
    n = x.numel()
    assert abs(hit - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)
    assert ((sp == 0) | (sp == 1) | (sp == 0.5)).all()
    assert torch.equal(gaussian_noise(x, torch.zeros(400), g), x)


def test_seeded_and_json_ready(models):
    a = noise_response(models[0], None, in_shape=(1, 8, 8), n_probes=100, seed=1)
    b = noise_response(models[0], None, in_shape=(1, 8, 8), n_probes=100, seed=1)
    c = noise_response(models[0], None, in_shape=(1, 8, 8), n_probes=100, seed=2)
    assert a.to_dict() == b.to_dict() and a.to_dict() != c.to_dict()
    d = json.loads(json.dumps(a.to_dict()))
    assert len(d["levels"]) == 30 and len(d["class_fraction"][0]) == 10 and d["accuracy"] is None
    for mode in ("mean", "uniform"):
        r = noise_response(models[0], None, in_shape=(1, 8, 8), n_probes=50, data_free_mode=mode)
        assert abs(sum(r.class_fraction[5]) - 1) < 1e-9
    assert NoiseResponse(n_probes=50, in_shape=(1, 8, 8))(models[0]).n_probes == 50
    axes = a.plot()  # Axes like every plot: here the two panels, as matplotlib returns them
    assert len(axes) == 2 and all(ax.figure is axes[0].figure for ax in axes)


def test_bad_inputs_fail_clearly(models):
    with pytest.raises(ValueError, match="expected one of"):
        noise_response(models[0], None, in_shape=(1, 8, 8), family="pink")
    with pytest.raises(ValueError, match="in_shape"):
        noise_response(models[0], None)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        noise_response(models[0], torch.full((4, 1, 8, 8), 2.0))
    with pytest.raises(ValueError, match="data_free_mode"):
        noise_response(models[0], None, in_shape=(1, 8, 8), data_free_mode="pink")
    assert "gaussian" in list_noise_families()


def _scipy_blur(img, level):
    """Independent reference: SciPy's gaussian_filter per channel (truncate 4σ, mode nearest)."""
    from scipy import ndimage

    sigma = level * min(img.shape[-2:]) / 4
    if sigma == 0:
        return img.clone()
    out = ndimage.gaussian_filter(img.double().numpy(), sigma=(0, sigma, sigma), mode="nearest", truncate=4.0)
    return torch.from_numpy(out).float()


def test_blur_family_matches_scipy_per_image():
    from nnsafety.metrics.noise_response import gaussian_blur

    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 3, 12, 9, generator=g)
    lv = torch.tensor([0.0, 0.05, 0.2, 0.37, 0.6, 1.0, 0.2])  # σ from 0 to 2.25 px (> the 9 px side / 4)
    out = gaussian_blur(x, lv, g)
    for i in range(7):
        assert torch.allclose(out[i], _scipy_blur(x[i], float(lv[i])), atol=1e-6), i
    assert torch.equal(out[0], x[0])
    same = gaussian_blur(x[1:2].expand(4, -1, -1, -1), torch.tensor([0.1, 0.3, 0.6, 1.0]), g)
    stds = [float(x[1].std())] + [float(s.std()) for s in same]
    assert all(a > b for a, b in zip(stds, stds[1:])), stds  # stronger blur, less variation
    with pytest.raises(ValueError, match="N×C×H×W"):
        gaussian_blur(torch.rand(4, 2), torch.zeros(4), g)


def test_blur_sweep_matches_per_level_loop(models):
    model = models[0]
    _, (xt, yt) = digits_data()
    x, y = xt[:150], yt[:150]
    levels = [0.0, 0.15, 0.4, 1.0]
    r = noise_response(model, x, y, family="blur", levels=levels, n_probes=150, batch_size=200)
    with torch.no_grad():
        for i, lv in enumerate(levels):
            xs = torch.stack([_scipy_blur(img, lv) for img in x])
            p = torch.softmax(model(xs).double(), 1)
            conf, pred = p.max(1)
            assert r.accuracy[i] == pytest.approx((pred == y).double().mean().item(), abs=1e-12)
            assert r.mean_confidence[i] == pytest.approx(conf.mean().item(), abs=1e-5)
    assert r.accuracy[0] > 0.9 and r.accuracy[-1] < r.accuracy[0] - 0.3
    assert "blur" in list_noise_families() and "contrast" in list_noise_families()
