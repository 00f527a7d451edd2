"""The one AUROC (metrics.ranking.roc_auc) against scikit-learn and the quadratic Mann–Whitney count."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nnsafety.metrics.ranking import roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_sklearn_and_the_pair_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = rng.integers(0, 12, 200).astype(float)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12) == pytest.approx(pairs, abs=1e-12)


def test_one_class_is_nan_and_shapes_must_match():
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="same length"):
        roc_auc([0, 1], [0.5])
