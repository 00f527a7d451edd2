"""dataset-C export (layout, atomicity, round trip) and corruption accuracy / CE / mCE."""
import json
import math

import numpy as np
import pytest
import torch

from nnsafety.corruptions import (
    CorruptionResult, evaluate_corruptions, evaluate_corruptions_folder, export_corrupted,
)
from nnsafety.corruptions.export import corrupted_blocks
from nnsafety.data import ArrayDataset, load_dataset
from nnsafety.models import create_model


@pytest.fixture(scope="module")
def digits_test():
    return load_dataset("digits", split="test")


@pytest.fixture(scope="module")
def model():
    x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(0)
    m = create_model("mlp", 10, (1, 8, 8))
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    for _ in range(200):
        idx = torch.randint(0, len(x), (128,))
        loss = torch.nn.functional.cross_entropy(m(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def test_export_layout_and_values(tmp_path, digits_test):
    ds = digits_test.subset(300)
    out = export_corrupted(ds, tmp_path / "d-C", corruptions=["fog", "contrast"], severities=(1, 3),
                           seed=5, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["name"] == "digits-C" and meta["n"] == 300 and meta["severities"] == [1, 3]
    assert meta["classes"] == [str(i) for i in range(10)] and meta["seed"] == 5
    fog = np.load(out / "fog.npy")
    assert fog.dtype == np.uint8 and fog.shape == (600, 8, 8, 1)
    labels = np.load(out / "labels.npy")
    assert labels.dtype == np.int64 and np.array_equal(labels, np.tile(ds.labels.numpy(), 2))
    # severity-major rows hold exactly the on-the-fly corrupted images, rounded to uint8
    for si, s in enumerate((1, 3)):
        for start, xc, _ in corrupted_blocks(ds, "fog", s, 5):
            want = (xc * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            assert np.array_equal(fog[si * 300 + start: si * 300 + start + len(xc)], want)
    assert not list(out.glob(".*partial"))


def test_export_is_atomic_when_interrupted(tmp_path, digits_test, monkeypatch):
    import nnsafety.corruptions.export as ex

    calls = {"n": 0}
    real = ex.corrupt

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ex, "corrupt", failing)
    with pytest.raises(KeyboardInterrupt):
        export_corrupted(digits_test, tmp_path / "c", corruptions=["fog"], progress=False)
    assert not (tmp_path / "c" / "fog.npy").exists()
    assert not list((tmp_path / "c").glob(".*partial"))


def test_rgb_export_shape(tmp_path):
    x = torch.rand(10, 3, 32, 32)
    ds = ArrayDataset(x, torch.arange(10) % 2, ["a", "b"], name="toy")
    out = export_corrupted(ds, tmp_path / "t", corruptions=["snow"], progress=False)
    assert np.load(out / "snow.npy").shape == (50, 32, 32, 3)


def test_evaluate_matches_folder_and_formulas(tmp_path, digits_test, model):
    names = ["gaussian_noise", "contrast", "speckle_noise"]
    res = evaluate_corruptions(model, digits_test, corruptions=names, seed=1)
    x, y = digits_test.tensors()
    assert res.clean_accuracy == pytest.approx((model(x).argmax(1) == y).float().mean().item())
    # contrast severity 5 by hand
    xc = torch.cat([xc for _, xc, _ in corrupted_blocks(digits_test, "contrast", 5, 1)])
    assert res.accuracy["contrast"][5] == pytest.approx((model(xc).argmax(1) == y).float().mean().item())
    out = export_corrupted(digits_test, tmp_path / "dc", corruptions=names, seed=1, progress=False)
    folder = evaluate_corruptions_folder(model, out, clean_dataset=digits_test)
    for c in names:
        for s in range(1, 6):  # uint8 rounding may flip a few predictions
            assert folder.accuracy[c][s] == pytest.approx(res.accuracy[c][s], abs=0.02)
    d = res.to_dict()
    json.dumps(d)
    assert d["mean_per_severity"]["1"] == pytest.approx(np.mean([res.accuracy[c][1] for c in names]))
    assert "| contrast |" in res.to_markdown()


def fake(clean, acc):
    return CorruptionResult(clean, {c: dict(enumerate(a, 1)) for c, a in acc.items()})


def test_ce_mce_by_hand():
    base = fake(0.9, {"gaussian_noise": [0.8, 0.7, 0.6, 0.5, 0.4], "fog": [0.9, 0.8, 0.8, 0.7, 0.6],
                      "saturate": [0.5] * 5})
    model = fake(0.95, {"gaussian_noise": [0.9, 0.8, 0.8, 0.7, 0.6], "fog": [0.9, 0.9, 0.8, 0.8, 0.7],
                        "saturate": [0.9] * 5})
    assert base.mce(base) == pytest.approx(1.0)
    # CE_gauss = (.1+.2+.2+.3+.4) / (.2+.3+.4+.5+.6) = 1.2 / 2.0; CE_fog = .9 / 1.2
    ce = model.ce(base)
    assert ce["gaussian_noise"] == pytest.approx(0.6) and ce["fog"] == pytest.approx(0.75)
    # saturate is not a benchmark corruption: mCE averages the 15 only
    assert model.mce(base) == pytest.approx((0.6 + 0.75) / 2)
    # relative: (1.2 - 5·0.05) / (2.0 - 5·0.1) and (0.9 - 0.25) / (1.2 - 0.5)
    rel = model.ce(base, relative=True)
    assert rel["gaussian_noise"] == pytest.approx(0.95 / 1.5) and rel["fog"] == pytest.approx(0.65 / 0.7)
    assert model.error_sum["fog"] == pytest.approx(0.9)
    assert model.mean_error == pytest.approx(np.mean([0.1, 0.2, 0.2, 0.3, 0.4, 0.1, 0.1, 0.2, 0.2, 0.3]))
    model.baseline = base
    d = model.to_dict()
    assert d["mce"] == pytest.approx(0.675) and math.isclose(d["relative_mce"], (0.95 / 1.5 + 0.65 / 0.7) / 2)
    with pytest.raises(ValueError, match="baseline"):
        fake(0.9, {"fog": [0.5] * 5}).mce()


def test_plot_returns_axes():
    import matplotlib

    matplotlib.use("Agg")
    res = fake(0.9, {"fog": [0.9, 0.8, 0.7, 0.6, 0.5], "snow": [0.8] * 5})
    ax = res.plot()
    assert ax.images[0].get_array().shape == (2, 5)


def test_dataset_loader_reads_the_export(tmp_path, digits_test):
    out = export_corrupted(digits_test, tmp_path / "digits-C", corruptions=["snow", "pixelate"],
                           seed=2, progress=False)
    ds = load_dataset("corrupted", root=str(out), split="test", corruption="snow", severity=3)
    assert ds.name == "digits-C" and ds.classes == digits_test.classes
    x, y = ds.tensors()
    assert x.shape == (450, 1, 8, 8) and torch.equal(y, digits_test.labels)
    want = torch.cat([xc for _, xc, _ in corrupted_blocks(digits_test, "snow", 3, 2)])
    assert torch.allclose(x, want, atol=0.5 / 255 + 1e-6)


def test_relative_mce_leaves_out_undefined_corruptions_and_says_so():
    # issue 17 item 7: a baseline whose fog error equals its clean error made `relative mCE nan%`
    base = fake(0.9, {"gaussian_noise": [0.8, 0.7, 0.6, 0.5, 0.4], "fog": [0.9] * 5})
    model = fake(0.95, {"gaussian_noise": [0.9, 0.8, 0.8, 0.7, 0.6], "fog": [0.9] * 5})
    assert math.isnan(model.ce(base, relative=True)["fog"])
    assert model.undefined_ce(base, relative=True) == ["fog"]
    assert model.mce(base, relative=True) == pytest.approx(0.95 / 1.5)  # gaussian_noise alone, by hand above
    model.baseline = base
    text = model.to_markdown().splitlines()[-1]
    assert "relative mCE 63.3% (without fog: the baseline's error does not rise above its clean error there)" in text
    assert "nan" not in text
    flat = fake(0.9, {"fog": [0.9] * 5})
    model.baseline = flat
    assert "relative mCE undefined" in model.to_markdown()
