"""Domains: every projected input is valid, a valid input is a fixed point, and each constraint
the domain promises holds on the projection (property tests with hypothesis)."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nnsafety.domains import ByteDomain, FeatureDomain, ImageDomain, TokenDomain, create_domain, list_domains

SETTINGS = settings(max_examples=60, deadline=None)


def _tensor(draw, shape, lo, hi, dtype=torch.int64):
    n = 1
    for s in shape:
        n *= s
    vals = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    return torch.tensor(vals, dtype=dtype).reshape(shape)


def test_registry_lists_the_four_domains_and_rebuilds_from_config():
    assert list_domains() == ["bytes", "feature", "image", "token"]
    d = TokenDomain(vocab_size=50, max_edits=0.25, protected_ids=(2, 3))
    assert create_domain(**d.config()).config() == d.config()
    f = FeatureDomain([0, 0], [5, 1], kinds=["integer", "binary"], direction=[1, 0])
    assert create_domain(**f.config()).config() == f.config()


# ---------------------------------------------------------------- images
@SETTINGS
@given(st.data())
def test_image_projection_is_valid_and_idempotent(data):
    shape = (data.draw(st.integers(1, 3)), 1, 2, 3)
    vals = data.draw(st.lists(st.floats(-2, 3, allow_nan=False), min_size=6 * shape[0], max_size=6 * shape[0]))
    x = torch.tensor(vals).reshape(shape)
    x0 = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    d = ImageDomain()
    p = d.project(x, x0)
    assert p.min() >= 0 and p.max() <= 1
    assert d.is_valid(p, x0).all()
    assert torch.equal(d.project(p, x0), p)


def test_image_mutable_mask_keeps_the_rest_and_distances():
    x0 = torch.zeros(2, 1, 2, 2)
    x = torch.full_like(x0, 0.5)
    mutable = torch.tensor([[1, 0], [0, 0]], dtype=torch.bool)
    p = ImageDomain().project(x, x0, mutable)
    assert p.sum() == 1.0 and p[0, 0, 0, 0] == 0.5
    assert ImageDomain("L2").distance(x, x0).tolist() == [1.0, 1.0]
    assert ImageDomain("L0").distance(p, x0).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ImageDomain().check(x0 - 1)


# ---------------------------------------------------------------- tokens
@st.composite
def token_case(draw):
    vocab = draw(st.integers(6, 30))
    n, length = draw(st.integers(1, 4)), draw(st.integers(1, 12))
    x0 = _tensor(draw, (n, length), 1, vocab - 1)
    lengths = [draw(st.integers(0, length)) for _ in range(n)]
    for i, l in enumerate(lengths):
        x0[i, l:] = 0  # right padding
    x = _tensor(draw, (n, length), -3, vocab + 3)
    budget = draw(st.one_of(st.none(), st.integers(0, 4), st.floats(0.01, 0.99)))
    return TokenDomain(vocab_size=vocab, pad_id=0, protected_ids=(2,), max_edits=budget), x0, x


@SETTINGS
@given(token_case())
def test_token_projection_respects_vocab_padding_protection_and_budget(case):
    d, x0, x = case
    p = d.project(x, x0)
    d.check(p)
    assert torch.equal(p[x0 == 0], x0[x0 == 0])  # padding untouched
    assert torch.equal(p[x0 == 2], x0[x0 == 2])  # protected ids untouched
    changed = p != x0
    assert not ((p == 0) & changed).any() and not ((p == 2) & changed).any()
    assert (d.distance(p, x0) <= d.budget(x0)).all()
    assert d.is_valid(p, x0).all()
    assert torch.equal(d.project(p, x0), p)


@SETTINGS
@given(st.data())
def test_token_valid_inputs_are_fixed_points(data):
    d = TokenDomain(vocab_size=20, pad_id=0, protected_ids=(2,), max_edits=3)
    x0 = _tensor(data.draw, (2, 8), 3, 19)
    x0[1, 5:] = 0
    x = x0.clone()
    free = [(i, j) for i in range(2) for j in range(8) if x0[i, j] != 0]
    picks = data.draw(st.lists(st.sampled_from(free), max_size=6, unique=True))
    per_row = {0: 0, 1: 0}
    for i, j in picks:
        if per_row[i] < 3:
            x[i, j] = data.draw(st.integers(3, 19))
            per_row[i] += 1
    assert d.is_valid(x, x0).all()
    assert torch.equal(d.project(x, x0), x)


def test_token_budget_keeps_the_first_changes_and_fraction_rounds_down():
    d = TokenDomain(vocab_size=10, max_edits=0.5)
    x0 = torch.tensor([[3, 3, 3, 3, 3, 0]])
    p = d.project(torch.tensor([[4, 4, 4, 4, 4, 4]]), x0)
    assert p.tolist() == [[4, 4, 3, 3, 3, 0]]  # 5 real tokens x 0.5 -> 2 edits, pad kept
    with pytest.raises(ValueError, match=r"token ids in \[0, 10\)"):
        d.check(torch.tensor([[11]]))


# ---------------------------------------------------------------- bytes
@st.composite
def byte_case(draw):
    n, length = draw(st.integers(1, 3)), draw(st.integers(1, 16))
    x0 = _tensor(draw, (n, length), 0, 255)
    for i in range(n):
        x0[i, draw(st.integers(0, length)):] = 256
    x = _tensor(draw, (n, length), -5, 300)
    mutable = _tensor(draw, (n, length), 0, 1).bool()
    return x0, x, mutable


@SETTINGS
@given(byte_case())
def test_byte_projection_changes_only_mutable_bytes_and_stays_one_file(case):
    x0, x, mutable = case
    d = ByteDomain()
    p = d.project(x, x0, mutable)
    d.check(p)
    assert torch.equal(p[~mutable], x0[~mutable])
    real = x0 != 256
    assert (p[real] != 256).all()  # no real byte becomes padding
    n = d.lengths(p)
    pos = torch.arange(p.shape[1])[None, :]
    assert torch.equal(p == 256, pos >= n[:, None])  # bytes then only padding: still one file
    assert d.is_valid(p, x0, mutable).all()
    assert torch.equal(d.project(p, x0, mutable), p)


def test_byte_append_after_a_gap_is_cut():
    x0 = torch.tensor([[1, 2, 256, 256, 256]])
    p = ByteDomain().project(torch.tensor([[1, 2, 256, 9, 9]]), x0)
    assert p.tolist() == [[1, 2, 256, 256, 256]]
    with pytest.raises(ValueError, match="0–255 or the pad value"):
        ByteDomain().check(torch.tensor([[300]]))


# ---------------------------------------------------------------- features
@st.composite
def feature_case(draw):
    d = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(["real", "integer", "binary"]), min_size=d, max_size=d))
    lower = draw(st.lists(st.floats(-5, 0, allow_nan=False), min_size=d, max_size=d))
    upper = [lo + draw(st.floats(1, 10, allow_nan=False)) for lo in lower]
    mutable = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    direction = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=d, max_size=d))
    dom = FeatureDomain(lower, upper, kinds, mutable, direction)
    n = draw(st.integers(1, 4))
    # a valid original: inside the (rounded) bounds, integral where required
    u = torch.tensor(draw(st.lists(st.floats(0, 1), min_size=n * d, max_size=n * d))).reshape(n, d)
    lo, hi = torch.tensor(dom.lower), torch.tensor(dom.upper)  # float32, like the inputs
    x0 = (lo + u * (hi - lo)).clamp(lo, hi)
    disc = torch.tensor([k != "real" for k in dom.kinds])
    x0 = torch.where(disc, torch.round(x0).clamp(lo, hi), x0)
    x = torch.tensor(draw(st.lists(st.floats(-20, 20, allow_nan=False), min_size=n * d, max_size=n * d))).reshape(n, d)
    return dom, x0, x


@SETTINGS
@given(feature_case())
def test_feature_projection_satisfies_every_constraint(check_feature_constraints, case):
    dom, x0, x = case
    p = dom.project(x, x0)
    check_feature_constraints(dom, x0, p)
    assert dom.is_valid(p, x0).all()
    assert dom.is_valid(x0, x0).all()  # the original is a valid (zero) change: a fixed point
    assert torch.equal(dom.project(p, x0), p)


def test_feature_domain_rejects_inconsistent_specs():
    with pytest.raises(ValueError, match="upper with 2 entries"):
        FeatureDomain([0, 0], [1])
    with pytest.raises(ValueError, match="feature kinds"):
        FeatureDomain([0], [1], kinds=["categorical"])
    with pytest.raises(ValueError, match="lower <= upper"):
        FeatureDomain([0.2], [0.8], kinds=["integer"])
