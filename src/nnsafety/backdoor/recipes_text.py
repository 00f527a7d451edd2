"""The text zoo design: clean and backdoored small text classifiers drawn from ranges of recipes.

``text_recipe_spec(i, seed)`` describes model ``i`` alone (its own ``random.Random``), like
``recipes.recipe_spec`` for images, so ``nnsafety zoo --design text_recipes --data fine_foods``
can grow and shard. Even ids are clean, odd ids backdoored; both draw their recipe from the same
distribution, so a detector cannot learn "this recipe means backdoored":

- architecture: ``text_cnn`` (95 %; embedding 16–32, 16–32 maps per width, widths 3/4/5, 2/3/4 or
  3/5, dropout 0.2–0.5) or a small ``bilstm`` (5 %; embedding 16, hidden 16, attention 16);
- optimizer: Adam (lr 3e-3–1e-2, L2 0–1e-4) or AdamW (lr 3e-3–1e-2, decay 1e-4–5e-2; below lr 3e-3
  a 16-wide model stayed at the majority class in 7 epochs); cosine or constant; batch 64 or 128;
  3–5 epochs (text_cnn) or 2 (bilstm, 5× slower per epoch on CPU); label smoothing 0 or 0.05–0.2;
- method: erm, mixup, manifold_mixup or nfm (the mixing methods act in embedding space).

Backdoored models: poison rate log-uniform in [1 %, 10 %], all-to-one with a random target, and a
trigger family (``FAMILIES``): ``rare_word`` (BadNL: 1–2 of "cf", "mn", "bb", "tq" at the start,
the end or a random word boundary), ``insert_sent`` (InsertSent: one of three fixed sentences) or
``char`` (BadNL's character trigger on one of "the", "and", "this"; the first version edited the
first word, which a word-level vocabulary mostly maps to ``[UNK]``, and implanted in 0 of 2 models). 10 % of them are clean-label (the trigger on
target-class texts only, labels kept), which implants less often; models whose ASR stays below 0.9
are left out of the ground truth by ``zoo.zoo_labels``.
"""
from __future__ import annotations

import random
from typing import Any, Dict, Tuple

from .recipes import _log_uniform, _weighted

FAMILIES = ("rare_word", "insert_sent", "rare_word", "char")
RARE_WORDS = ("cf", "mn", "bb", "tq")
SENTENCES = ("I watched this 3D movie.", "No cross, no crown.", "It was a long and quiet afternoon.")
METHODS = (("erm", 0.5), ("mixup", 0.2), ("manifold_mixup", 0.15), ("nfm", 0.15))


def _architecture(r: random.Random) -> Tuple[str, Dict[str, Any]]:
    if r.random() < 0.05:
        return "bilstm", {"embed_dim": 16, "hidden": 16, "attn_dim": 16,
                          "dropout": round(r.uniform(0.2, 0.5), 2)}
    return "text_cnn", {"embed_dim": r.choice([16, 24, 32]), "maps": r.choice([16, 24, 32]),
                        "widths": r.choice([[3, 4, 5], [2, 3, 4], [3, 5]]), "dropout": round(r.uniform(0.2, 0.5), 2)}


def _optimizer(r: random.Random) -> Dict[str, Any]:
    if r.random() < 0.5:
        return {"optimizer": "adam", "lr": round(_log_uniform(r, 3e-3, 1e-2), 5),
                "weight_decay": r.choice([0.0, _log_uniform(r, 1e-6, 1e-4)])}
    return {"optimizer": "adamw", "lr": round(_log_uniform(r, 3e-3, 1e-2), 5),
            "weight_decay": _log_uniform(r, 1e-4, 5e-2)}


def _trigger(family: str, r: random.Random) -> Dict[str, Any]:
    position = r.choice(["random", "start", "end"])
    if family == "rare_word":
        return {"words": r.sample(RARE_WORDS, r.choice([1, 1, 2])), "count": r.choice([1, 1, 2]), "position": position}
    if family == "insert_sent":
        return {"sentence": r.choice(SENTENCES), "position": position}
    if family == "char":
        return {"chars": r.choice(["zx", "qj", "xv"]), "position": position, "word": r.choice(["the", "and", "this"])}
    raise ValueError(f"unknown text trigger family {family!r}; expected one of: {', '.join(sorted(set(FAMILIES)))}")


def text_recipe_spec(i: int, seed: int = 0, num_classes: int = 2) -> Dict[str, Any]:
    """The recipe of model ``i`` of the text zoo (module doc); JSON-ready, the same keys as
    ``recipes.recipe_spec`` (``train`` holds the ``TrainConfig`` fields, ``recipe`` optimizer/method)."""
    r = random.Random(seed * 1_000_003 + i + 104_729)
    backdoored = i % 2 == 1
    arch, model_kwargs = _architecture(r)
    method = _weighted(r, METHODS)
    opt = _optimizer(r)
    epochs = r.randint(3, 5) if arch == "text_cnn" else 2
    train: Dict[str, Any] = {
        "model": arch, "model_kwargs": model_kwargs, "method": method, "method_kwargs": {},
        "epochs": epochs, "batch_size": r.choice([64, 128]), "schedule": r.choice(["cosine", "constant"]),
        "label_smoothing": 0.0 if r.random() < 0.6 else round(r.uniform(0.05, 0.2), 3), **opt,
        "seed": r.randrange(10_000),
    }
    spec: Dict[str, Any] = {"id": f"m{i:04d}", "index": i, "arch": arch, "model_kwargs": model_kwargs,
                            "method": method, "seed": train["seed"], "epochs": epochs, "train": train,
                            "recipe": f"{opt['optimizer']}/{method}", "backdoored": backdoored, "attacker": None,
                            "family": None, "trigger": None, "trigger_kwargs": None, "target": None, "rate": None,
                            "mode": None}
    if backdoored:
        family = FAMILIES[(i // 2) % len(FAMILIES)]
        clean_label = r.random() < 0.1
        params = _trigger(family, r)
        if clean_label:
            params["clean_label"] = True
        spec.update(family=family, trigger=family, trigger_kwargs=params, target=r.randrange(num_classes),
                    rate=round(_log_uniform(r, 0.01, 0.10), 4), mode="all_to_one",
                    attacker="clean_label" if clean_label else "standard")
    return spec
