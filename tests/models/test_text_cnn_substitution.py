"""text_cnn's one-word-substitution path against its full forward on the same variants.

The reference is the model's ordinary ``forward`` on the variants built in full, one at a time (so
no batch cut or padding is shared). The fast path only reorders float sums: logits agree to 1e-4
and predictions are equal; word-substitution attacks give the same adversarial texts either way.
"""
from __future__ import annotations

import torch
from torch import nn

from nnsafety.attacks.text import textfooler
from nnsafety.models import create_model


def _model(widths=(3, 4, 5), vocab=50, seed=0):
    torch.manual_seed(seed)
    m = create_model("text_cnn", num_classes=3, in_shape=(24,), vocab_size=vocab, pad_id=0, embed_dim=12, maps=7,
                     widths=widths).eval()
    return m


def _batch(vocab=50, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = [1, 2, 5, 11, 24, 17]  # a one-word text, texts shorter than every width, a full one
    x = torch.zeros(len(lengths), 24, dtype=torch.int64)
    for i, n in enumerate(lengths):
        x[i, :n] = torch.randint(1, vocab, (n,), generator=g)
    return x


def test_substitution_logits_equal_the_full_forward():
    for widths in [(3, 4, 5), (1, 2), (7,)]:
        m, x = _model(widths), _batch()
        n = (x != 0).sum(1)
        g = torch.Generator().manual_seed(2)
        owner = torch.randint(0, len(x), (400,), generator=g)
        pos = (torch.rand(400, generator=g) * n[owner]).long()
        pos[:6] = 0
        pos[6:12] = n[owner[6:12]] - 1  # first and last real word
        tok = torch.randint(1, 50, (400,), generator=g)
        fast = m.substitution_logits(x, owner, pos, tok)
        with torch.no_grad():
            ref = torch.cat([m(torch.where(torch.arange(24) == p, t, x[o])[None]) for o, p, t in zip(owner, pos, tok)])
        assert fast is not None and fast.shape == ref.shape
        assert float((fast - ref).abs().max()) < 1e-4, widths
        assert torch.equal(fast.argmax(1), ref.argmax(1))


def test_deletion_logits_equal_the_full_forward_on_the_shortened_texts():
    for widths in [(3, 4, 5), (1, 2), (7,)]:
        m, x = _model(widths), _batch()
        keep = (x != 0).sum(1) >= 2  # a one-word text has no deletion path
        n = (x != 0).sum(1)
        owner = torch.arange(len(x))[keep].repeat_interleave(n[keep])
        pos = torch.cat([torch.arange(int(k)) for k in n[keep]])
        fast = m.deletion_logits(x, owner, pos)
        with torch.no_grad():
            ref = torch.cat([m(torch.cat([x[o, :p], x[o, p + 1:], x.new_zeros(1)])[None])
                             for o, p in zip(owner.tolist(), pos.tolist())])
        assert fast is not None and float((fast - ref).abs().max()) < 1e-4, widths
        assert torch.equal(fast.argmax(1), ref.argmax(1))
    assert m.deletion_logits(x, torch.tensor([0]), torch.tensor([0])) is None  # the one-word text


def test_no_fast_path_where_it_would_not_be_the_same_model():
    m, x = _model(), _batch()
    owner, pos = torch.tensor([3]), torch.tensor([0])
    assert m.substitution_logits(x, owner, pos, torch.tensor([0])) is None  # padding in: the mask would change
    assert m.substitution_logits(x, owner, torch.tensor([20]), torch.tensor([4])) is None  # a padding position
    m.train()
    assert m.substitution_logits(x, owner, pos, torch.tensor([4])) is None  # dropout active
    lstm = create_model("bilstm", num_classes=2, in_shape=(24,), vocab_size=50, pad_id=0).eval()
    assert lstm.substitution_logits(x, owner, pos, torch.tensor([4])) is None
    assert lstm.deletion_logits(x, owner, pos) is None


class _Plain(nn.Module):
    """The same network without the substitution path (what any other model gets)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ids):
        return self.net(ids)


def test_textfooler_finds_the_same_adversarial_texts_with_and_without_the_fast_path():
    from nnsafety.data.vocab import Vocab

    tokens = ["[PAD]", "[UNK]"] + [f"w{i}" for i in range(48)]
    vocab = Vocab(tokens, max_len=24)
    m, x = _model(), _batch()
    y = m(x).argmax(1)
    g = torch.Generator().manual_seed(3)
    neigh = torch.randint(2, 50, (50, 6), generator=g)
    a = textfooler(m, x, y, vocab, max_change=0.5, neighbours=neigh, keep_stop_words=False)
    b = textfooler(_Plain(m), x, y, vocab, max_change=0.5, neighbours=neigh, keep_stop_words=False)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries) and torch.equal(a.success, b.success)
    assert bool(a.success.any())  # the check is about real substitutions


def test_deletion_importance_deletes_the_word():
    """TextFooler's importance (delete=True): the p_y drop when the word is removed and the rest
    moves up, against sequences built by hand; the [UNK] variant against [UNK] substitutions."""
    from nnsafety.attacks.text import deletion_importance, true_class_prob

    m, x = _model(), _batch()
    y = m(x).argmax(1)
    p0, _ = true_class_prob(m, x, y, 64)
    allowed = x != 0
    for delete in (True, False):
        order, q = deletion_importance(m, x, y, p0, allowed, 1, 64, delete=delete)
        assert torch.equal(q, allowed.sum(1))
        for i in range(len(x)):
            n = int(allowed[i].sum())
            rows = []
            for c in range(n):
                row = x[i].tolist()
                if delete:
                    row = row[:c] + row[c + 1:] + [0]
                else:
                    row[c] = 1
                rows.append(row)
            p, _ = true_class_prob(m, torch.tensor(rows), y[i].repeat(n), 64)
            drop = p0[i] - p
            got = order[i, :n]
            assert sorted(got.tolist()) == list(range(n))
            assert bool((drop[got][:-1] >= drop[got][1:] - 1e-5).all()), (delete, i)
