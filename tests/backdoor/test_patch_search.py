"""The brute-force patch search against a hand-built backdoor and an explicit loop over patches."""
import torch

from nnsafety.backdoor.detectors.patch_search import FILLS, TOP, _fill, patch_flip_rates, patch_grid


class CornerBackdoor(torch.nn.Module):
    """Class = argmax of a fixed random linear map, unless the 2×2 bottom-right corner is all white:
    then class 3 (a BadNets rule written by hand)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(64, 10, generator=g)

    def forward(self, x):
        logits = x.flatten(1) @ self.w
        trig = (x[:, 0, 6:, 6:] > 0.99).flatten(1).all(1)
        return logits + 100.0 * trig.float().unsqueeze(1) * torch.nn.functional.one_hot(torch.tensor(3), 10)


def test_grid_sizes_follow_the_image_side():
    assert {s for s, _, _ in patch_grid((1, 8, 8))} == {1, 2, 3}
    assert len(patch_grid((1, 8, 8))) == 64 + 49 + 36
    assert {s for s, _, _ in patch_grid((3, 32, 32))} == {3, 4, 5}


def test_the_trigger_class_is_reached_from_every_other_class():
    model = CornerBackdoor()
    g = torch.Generator().manual_seed(1)
    base = torch.rand(40, 1, 8, 8, generator=g) * 0.9  # no base is triggered by chance
    labels = model(base).argmax(1)
    r = patch_flip_rates(model, base, labels, 10)
    assert r["flip"][3] == 1.0  # the white 2×2 (or 3×3) patch at the corner sends every base to 3
    # an explicit loop over the same patches: the largest flip rate into each class
    expect = torch.zeros(10, dtype=torch.float64)
    for kind in FILLS:
        for s, i, j in patch_grid((1, 8, 8)):
            x = base.clone()
            x[:, :, i:i + s, j:j + s] = _fill(kind, 1, s)
            pred = model(x).argmax(1)
            for k in range(10):
                others = (labels != k)
                if others.any():
                    expect[k] = max(expect[k], float(((pred == k) & others).sum()) / float(others.sum()))
    torch.testing.assert_close(r["flip"], expect)
    assert (r["flip"][torch.arange(10) != 3] < 1.0).all()


def _explicit_hits(model, base, labels):
    """patches × K hit rates and patches × bases predictions by a plain loop over the grid."""
    hits, preds = [], []
    for kind in FILLS:
        for s, i, j in patch_grid(tuple(base.shape[1:])):
            x = base.clone()
            x[:, :, i:i + s, j:j + s] = _fill(kind, 1, s)
            pred = model(x).argmax(1)
            preds.append(pred)
            hits.append([float(((pred == k) & (labels != k)).sum()) / max(1, int((labels != k).sum()))
                         for k in range(10)])
    return torch.tensor(hits, dtype=torch.float64), torch.stack(preds)


class ShiftBackdoor(torch.nn.Module):
    """All-to-all by hand: class = argmax of a fixed random linear map; with the bottom-right 2×2
    white, that class + 1 (mod 10)."""

    def __init__(self):
        super().__init__()
        self.w = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        logits = x.flatten(1) @ self.w
        trig = (x[:, 0, 6:, 6:] > 0.99).flatten(1).all(1)
        shifted = torch.roll(logits, 1, dims=1)
        return torch.where(trig.unsqueeze(1), shifted, logits)


def test_top_rates_and_untargeted_share_equal_a_plain_loop():
    g = torch.Generator().manual_seed(1)
    base = torch.rand(40, 1, 8, 8, generator=g) * 0.9
    for model in (CornerBackdoor(), ShiftBackdoor()):
        labels = model(base).argmax(1)
        r = patch_flip_rates(model, base, labels, 10)
        hits, preds = _explicit_hits(model, base, labels)
        torch.testing.assert_close(r["top"], hits.T.sort(1, descending=True).values[:, :TOP])
        changed = (preds != labels)
        share = changed.double().mean(1)
        best = int(share.argmax())
        assert float(r["untargeted"]) == float(share[best])
        dest = preds[best][changed[best]]
        assert float(r["dest_share"]) == float(torch.bincount(dest, minlength=10).max()) / len(dest)


def test_all_to_all_is_an_untargeted_flip_with_spread_destinations():
    g = torch.Generator().manual_seed(1)
    base = torch.rand(40, 1, 8, 8, generator=g) * 0.9
    model = ShiftBackdoor()
    labels = model(base).argmax(1)
    r = patch_flip_rates(model, base, labels, 10)
    assert float(r["untargeted"]) == 1.0  # the corner patch changes every label
    # every base moves one class up, so the flips spread over the classes after the labels' ones
    assert len(labels.unique()) > 1 and float(r["dest_share"]) < 1.0
    assert float(r["flip"].max()) < float(r["untargeted"])  # no one class collects all the flips
    one = CornerBackdoor()
    r1 = patch_flip_rates(one, base, one(base).argmax(1), 10)
    assert float(r1["dest_share"]) == 1.0
