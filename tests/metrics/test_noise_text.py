"""Token noise families and the text titration, on the known-answer bag-of-words model."""
from __future__ import annotations

import pytest
import torch

from nnsafety.domains import TokenDomain
from nnsafety.metrics import list_noise_families, noise_response, random_token_probes, text_noise_response
from nnsafety.metrics.noise_text import token_delete, token_mask, token_replace

D = TokenDomain(vocab_size=50, pad_id=0, unk_id=1)


def ids(n=400, L=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(2, 50, (n, L), generator=g)
    x[:, 15:] = 0  # 15 real tokens, then padding
    return x


def test_registered_for_tokens():
    assert {"token_replace", "token_mask", "token_delete"} <= set(list_noise_families(domain="token"))
    assert "token_replace" not in list_noise_families(domain="image")


@pytest.mark.parametrize("fn", [token_replace, token_mask, token_delete])
def test_rate_identity_and_padding(fn):
    x = ids()
    g = torch.Generator().manual_seed(1)
    assert torch.equal(fn(x, torch.zeros(len(x)), g, project=D.project), x)
    out = fn(x, torch.full((len(x),), 0.3), g, project=D.project)
    assert out.shape == x.shape and (out[:, 15:] == 0).all() and out.min() >= 0 and out.max() < 50
    if fn is token_delete:
        kept = (out != 0).sum(1).double()
        assert abs(1 - kept.mean() / 15 - 0.3) < 0.02  # 6000 Bernoulli(0.3) draws: sd 0.006
        for row, src in zip(out[:5], x[:5]):  # survivors are a subsequence in their order
            it = iter(src.tolist())
            assert all(t in it for t in row[row != 0].tolist())
    else:
        hit = (out != x)[:, :15].double().mean()
        # replace hits may draw the same word (1/48 of the time)
        expect = 0.3 * (47 / 48) if fn is token_replace else 0.3
        assert abs(hit - expect) < 0.02
        if fn is token_mask:
            assert ((out == 1) | (out == x)).all()


def test_mask_titration_on_known_model(bag_of_words):
    w = [0.0, 0.0] + [1.0] * 48  # every word votes class 1; [UNK] votes nothing (tie -> class 0)
    model = bag_of_words(w)
    x = ids(100)
    res = noise_response(model, x, torch.ones(100, dtype=torch.long), family="token_mask", levels=[0.0, 1.0],
                         n_probes=100, domain=D)
    assert res.accuracy == [1.0, 0.0] and res.class_fraction[1] == [1.0, 0.0]


def test_data_free_probes_follow_the_lengths_and_flag_a_trigger_word(bag_of_words):
    lengths = torch.tensor([3, 5, 7])
    p = random_token_probes(600, lengths, D, 10, torch.Generator().manual_seed(0))
    assert set((p != 0).sum(1).tolist()) == {3, 5, 7} and p[p != 0].min() >= 2
    clean = bag_of_words(torch.randn(50, generator=torch.Generator().manual_seed(2)).mul(0.1).tolist())
    w = torch.randn(50, generator=torch.Generator().manual_seed(2)).mul(0.1)
    w[7] = 10.0  # a trigger word: any probe containing it goes to class 1
    trojan = bag_of_words(w.tolist())
    kw = dict(lengths=torch.full((50,), 15), max_len=20, levels=[0.0, 0.5, 1.0], n_probes=300)
    r_clean = text_noise_response(clean, D, family="token_replace", **kw)
    r_trojan = text_noise_response(trojan, D, family="token_replace", **kw)
    assert r_trojan.data_free and r_trojan.collapse_class == 1
    assert r_trojan.class_collapse[1] > r_clean.class_collapse[1] + 0.2
