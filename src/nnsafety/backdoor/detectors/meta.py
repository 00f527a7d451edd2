"""Meta-classifier mode shared by the feature-based detectors (noise_response, weights).

A detector with a ``features(model, ctx) -> 1-D tensor`` method can be turned into a supervised
detector: fit a scikit-learn random forest on the features of a reference zoo (clean = 0,
implanted backdoor = 1) and score new models by the forest's probability (threshold 0.5). The
forest lives in memory only (no pickle on disk); features are cheap to recompute or cache as JSON.

``ProfileMeta`` is the noise-response meta-classifier: reference-normalised class profiles and a
logistic regression, saved as plain JSON (``save``/``load``), so a reference fitted on one zoo can be
shipped and used by ``nnsafety detect RUN --meta FILE``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


class MetaClassifier:
    """Random forest on detector features; ``fit`` returns self (scikit-learn habit)."""

    def __init__(self, n_estimators: int = 300, seed: int = 0) -> None:
        self.n_estimators, self.seed = int(n_estimators), int(seed)
        self.forest = None

    def fit(self, features: Sequence[Sequence[float]], labels: Sequence[int]) -> "MetaClassifier":
        from sklearn.ensemble import RandomForestClassifier

        X, y = np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64)
        if X.ndim != 2 or X.shape[0] != y.shape[0] or len(set(y.tolist())) != 2:
            raise ValueError(f"expected features M×D and labels of both classes for M models, got "
                             f"{X.shape} and classes {sorted(set(y.tolist()))}")
        self.forest = RandomForestClassifier(self.n_estimators, random_state=self.seed, min_samples_leaf=1)
        self.forest.fit(np.nan_to_num(X), y)
        return self

    def predict_proba(self, features: Sequence[Sequence[float]]) -> np.ndarray:
        if self.forest is None:
            raise ValueError("expected a fitted meta-classifier; call fit(features, labels) first")
        return self.forest.predict_proba(np.nan_to_num(np.asarray(features, dtype=np.float64)))[:, 1]


def meta_score(meta, feats) -> Optional[float]:
    return None if meta is None else float(meta.predict_proba([list(map(float, feats))])[0])


class ProfileMeta:
    """Logistic regression on class profiles z-scored against the clean models of a reference zoo.

    A profile is G×K (settings × classes; here the mean softmax of noise probes per setting). With
    μ, σ the per-entry mean and std over the reference's *clean* models, z = (profile − μ)/(σ + s0)
    says how much more a class attracts noise than it does in clean models of this data (so a
    natural sink, e.g. the heavy-ink digit 8, is not mistaken for a target). Features are
    class-agnostic: per block of settings (a probe base) the largest over classes of the block's mean
    z, and per setting the largest z — a new target class or trigger family needs no retraining.
    The suspected target is the class with the largest z in any setting (a trigger shows in some
    probe kinds only).
    ``C``: inverse L2 strength of the logistic regression; ``s0``: floor added to σ (probability units).
    """

    def __init__(self, num_classes: int, blocks: Sequence[Sequence[int]], C: float = 0.1, s0: float = 0.02) -> None:
        if num_classes < 2 or not blocks or C <= 0 or s0 <= 0:
            raise ValueError(f"expected num_classes >= 2, non-empty blocks, C > 0, s0 > 0, got "
                             f"{num_classes}, {len(blocks)} blocks, {C}, {s0}")
        self.num_classes, self.blocks = int(num_classes), [[int(i) for i in b] for b in blocks]
        self.C, self.s0 = float(C), float(s0)
        self.params: Optional[Dict[str, np.ndarray]] = None

    def _z(self, features) -> np.ndarray:
        X = np.asarray(features, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] % self.num_classes:
            raise ValueError(f"expected M×(G·{self.num_classes}) profiles, got shape {X.shape}")
        X = X.reshape(X.shape[0], -1, self.num_classes)
        if self.params is None:
            return X
        return (X - self.params["mu"]) / (self.params["sigma"] + self.s0)

    def _design(self, z: np.ndarray) -> np.ndarray:
        per_block = [z[:, b].mean(1).max(-1) for b in self.blocks]
        return np.concatenate([np.stack(per_block, 1), z.max(-1)], 1)

    def fit(self, features, labels) -> "ProfileMeta":
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels, dtype=np.int64)
        X = self._z(features)
        if X.shape[0] != y.shape[0] or len(set(y.tolist())) != 2:
            raise ValueError(f"expected profiles and labels of both classes for M models, got {X.shape[0]} "
                             f"profiles and classes {sorted(set(y.tolist()))}")
        self.params = {"mu": X[y == 0].mean(0), "sigma": X[y == 0].std(0)}
        D = self._design(self._z(features))
        mean, scale = D.mean(0), D.std(0) + 1e-12
        lr = LogisticRegression(C=self.C, max_iter=5000).fit((D - mean) / scale, y)
        self.params.update(mean=mean, scale=scale, coef=lr.coef_[0], intercept=np.asarray(lr.intercept_[0]))
        return self

    def _check(self) -> Dict[str, np.ndarray]:
        if self.params is None:
            raise ValueError("expected a fitted meta-classifier; call fit(features, labels) or load(path) first")
        return self.params

    def predict_proba(self, features) -> np.ndarray:
        p = self._check()
        D = (self._design(self._z(features)) - p["mean"]) / p["scale"]
        return 1.0 / (1.0 + np.exp(-(D @ p["coef"] + float(p["intercept"]))))

    def suspected_target(self, features) -> np.ndarray:
        self._check()
        return self._z(features).max(1).argmax(-1)

    def to_dict(self) -> Dict[str, Any]:
        p = self._check()
        return {"kind": "ProfileMeta", "num_classes": self.num_classes, "blocks": self.blocks, "C": self.C,
                "s0": self.s0, "params": {k: np.asarray(v).tolist() for k, v in p.items()}}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ProfileMeta":
        if not isinstance(d, dict) or d.get("kind") != "ProfileMeta":
            got = f"kind {d.get('kind')!r}" if isinstance(d, dict) else f"a JSON {type(d).__name__}"
            raise ValueError(f"expected a ProfileMeta JSON object (kind 'ProfileMeta'), got {got}")
        try:
            meta = cls(d["num_classes"], d["blocks"], d["C"], d["s0"])
            meta.params = {k: np.asarray(v, dtype=np.float64) for k, v in d["params"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"expected a ProfileMeta JSON with num_classes, blocks, C, s0 and params, got a "
                             f"malformed one ({type(e).__name__}: {e})") from None
        return meta

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict()))
        tmp.replace(path)  # atomic: a reader never sees half a file
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ProfileMeta":
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"expected a meta-classifier JSON file at {path}, got: {e}") from None
        return cls.from_dict(d)


#: packaged reference meta-classifiers (``--fit-meta`` output), one JSON file per dataset
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


def reference_metas() -> List[str]:
    """Names of the packaged reference meta-classifiers. ``"digits"``: fitted on the 180 usable
    models of the 200-model digits zoo of ``docs/results.md`` (held-out AUC 0.943 there)."""
    return sorted(p.stem for p in REFERENCE_DIR.glob("*.json"))


def load_meta(name_or_path: str | Path) -> ProfileMeta:
    """A packaged reference meta-classifier by name (see ``reference_metas()``) or a JSON file written
    by ``ProfileMeta.save`` / ``nnsafety detect ZOO --fit-meta``.

    A reference fits models of its own data *and training recipe*: its z-scores compare a model with
    the clean models of its zoo (trained by ``nnsafety train``'s digits defaults: SGD, weight decay,
    cosine). A clean digits MLP trained differently (Adam, no weight decay, 300 steps) scored 0.98 —
    for other recipes, fit your own reference with ``--fit-meta`` on a zoo trained that way.
    """
    if str(name_or_path) in reference_metas():
        return ProfileMeta.load(REFERENCE_DIR / f"{name_or_path}.json")
    return ProfileMeta.load(name_or_path)

