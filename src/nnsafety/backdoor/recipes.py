"""The recipe-spanning zoo design: clean and backdoored models drawn from ranges of training recipes.

``recipe_spec(i, seed)`` describes model ``i`` alone (its own ``random.Random``), like the classic
``zoo.zoo_spec``, so a zoo can grow and any shard can build any model. Even ids are clean, odd ids
backdoored; both classes draw their recipe from the *same* distribution, so a detector cannot
learn "this recipe means backdoored":

- architecture: a small mlp (width 32–128, depth 1–2) or cnn (width 4–12), activation relu / gelu /
  silu / tanh, dropout 0 or 0.1–0.3;
- optimizer: SGD + Nesterov (lr 0.02–0.1, weight decay 0–1e-3), Adam (lr 1e-3–5e-3, L2 0–1e-4) or
  AdamW (lr 1e-3–5e-3, decoupled decay 1e-4–5e-2); cosine or constant schedule; batch 64 or 128;
  epochs 20–40 (mlp) / 15–25 (cnn); label smoothing 0 or 0.05–0.2;
- method: erm, Gaussian noise (σ 0.05–0.2), mixup, NoisyMix, or outlier exposure on noise
  (``train/methods/outlier_exposure.py``: noise inputs trained to the uniform prediction).

Backdoored models add an attack (all-to-one, or all-to-all in 15 %), poison rate log-uniform in
[0.5 %, 10 %] for patches (6–10 % for full-image triggers, ``_trigger``), and a trigger family:

- ``patch_bright``: a 1–3 px white / checkerboard / random patch at a corner or anywhere (on the
  strokes too); ``patch_dark``: a 2–3 px black patch on the central foreground (darkening strokes);
- ``blended`` (α 0.2–0.3), ``sig`` (dirty-label, Δ 0.2–0.3), ``wanet`` (warp, s 3–4).

Attacker types: ``standard``; ``noise_aware`` — every backdoored model trained with outlier
exposure (25 % of backdoored models, and 25 % of clean ones use the same method) gives noise no
class to fall into; ``small_norm`` (20 %) — a low-amplitude full-image trigger (blend α 0.14–0.2
or sinusoid Δ 0.14–0.2 at 2–3 periods, poison 8–10 %) whose inverted mask is large, against Neural Cleanse's small-mask rule.
A model's ``recipe`` (optimizer/method) and ``family`` label the leave-one-out splits.
"""
from __future__ import annotations

import math
import random
from typing import Any, Dict, Tuple

FAMILIES = ("patch_bright", "patch_dark", "blended", "sig", "wanet")
ATTACKERS = ("standard", "noise_aware", "small_norm")
A2A_RATE_FACTOR = 3.0  # all-to-all poison rate = 3 × the all-to-one draw (so 9–30 %), same random draws
METHODS = (("erm", 0.35), ("noise", 0.15), ("mixup", 0.125), ("noisymix", 0.125), ("outlier_exposure", 0.25))


def _weighted(r: random.Random, pairs) -> Any:
    return r.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _log_uniform(r: random.Random, lo: float, hi: float) -> float:
    return math.exp(r.uniform(math.log(lo), math.log(hi)))


def _architecture(r: random.Random) -> Tuple[str, Dict[str, Any]]:
    arch = r.choice(["mlp", "cnn"])
    kw: Dict[str, Any] = ({"width": r.choice([32, 64, 128]), "depth": r.choice([1, 2])} if arch == "mlp"
                          else {"width": r.choice([4, 8, 12])})
    kw["activation"] = r.choice(["relu", "relu", "gelu", "silu", "tanh"])
    if r.random() < 0.3:
        kw["dropout"] = round(r.uniform(0.1, 0.3), 2)
    return arch, kw


def _optimizer(r: random.Random) -> Dict[str, Any]:
    opt = r.choice(["sgd", "adam", "adamw"])
    if opt == "sgd":
        wd = r.choice([0.0, _log_uniform(r, 1e-5, 1e-3)])
        return {"optimizer": "sgd", "lr": round(_log_uniform(r, 0.02, 0.1), 4), "weight_decay": wd}
    if opt == "adam":
        return {"optimizer": "adam", "lr": round(_log_uniform(r, 1e-3, 5e-3), 5),
                "weight_decay": r.choice([0.0, _log_uniform(r, 1e-6, 1e-4)])}
    return {"optimizer": "adamw", "lr": round(_log_uniform(r, 1e-3, 5e-3), 5),
            "weight_decay": _log_uniform(r, 1e-4, 5e-2)}


def _method(r: random.Random, forced: str | None = None) -> Tuple[str, Dict[str, Any]]:
    method = forced or _weighted(r, METHODS)
    if method == "noise":
        return method, {"sigma": round(r.uniform(0.05, 0.2), 3)}
    if method == "outlier_exposure":
        return method, {"weight": round(r.uniform(0.3, 1.0), 2), "ratio": 0.5}
    return method, {}


def _trigger(family: str, attacker: str, mode: str, r: random.Random) -> Tuple[str, Dict[str, Any], float]:
    name, params, rate = _trigger_one(family, attacker, mode, r)
    if mode == "all_to_all":  # the poison is split over K label pairs: at ≤ 10 % none of 36 implanted
        rate = min(A2A_RATE_FACTOR * rate, 0.3)
    return name, params, rate


def _trigger_one(family: str, attacker: str, mode: str, r: random.Random) -> Tuple[str, Dict[str, Any], float]:
    """(registered trigger, its parameters, poison rate) of one backdoored model.

    Rates: patches log-uniform in [0.5 %, 10 %] (all-to-all, which splits the poison over K label
    pairs, and dark patches, which must overwrite ink, from 3 %); full-image triggers 6–10 %
    (below that they rarely implant on 1347 digits, measured on the first 30 models of this zoo).
    """
    low = 0.03 if mode == "all_to_all" or family == "patch_dark" else 0.005
    rate = _log_uniform(r, low, 0.10)
    if attacker == "small_norm":
        if r.random() < 0.5:
            return "blended", {"alpha": round(r.uniform(0.14, 0.2), 3), "pattern_seed": r.randrange(1000)}, \
                r.uniform(0.08, 0.10)
        return "sig", {"delta": round(r.uniform(0.14, 0.2), 3), "frequency": float(r.choice([2, 3])),
                       "clean_label": False}, r.uniform(0.08, 0.10)
    if family in ("patch_bright", "patch_dark"):
        size = r.choice([1, 2, 3, 3]) if family == "patch_bright" else r.choice([2, 3])
        if family == "patch_dark":  # on the central strokes of 8×8 digits, where black removes ink
            pos: Any = [r.randrange(2, 7 - size), r.randrange(2, 7 - size)]
            pattern = "black"
        else:
            pos = r.choice(["bottom_right", "bottom_left", "top_right", "top_left",
                            [r.randrange(0, 8 - size + 1), r.randrange(0, 8 - size + 1)]])
            pattern = r.choice(["white", "checkerboard", "random"])
        return "badnets", {"size": size, "position": pos, "pattern": pattern, "pattern_seed": r.randrange(1000)}, rate
    if family == "blended":
        return "blended", {"alpha": round(r.uniform(0.2, 0.3), 3), "pattern_seed": r.randrange(1000)}, \
            r.uniform(0.06, 0.10)
    if family == "sig":
        return "sig", {"delta": round(r.uniform(0.2, 0.3), 3), "frequency": float(r.choice([2, 3, 6])),
                       "clean_label": False}, r.uniform(0.06, 0.10)
    if family == "wanet":
        return "wanet", {"k": r.choice([3, 4]), "s": round(r.uniform(3.0, 4.0), 2), "noise_ratio": 0.5,
                         "field_seed": r.randrange(1000)}, r.uniform(0.06, 0.10)
    raise ValueError(f"unknown trigger family {family!r}; expected one of: {', '.join(FAMILIES)}")


def _base_spec(i: int, train: Dict[str, Any], optimizer: str, backdoored: bool, attacker: Any) -> Dict[str, Any]:
    """The spec fields of model ``i`` before its backdoor (if any) is drawn."""
    return {"id": f"m{i:04d}", "index": i, "arch": train["model"], "model_kwargs": train["model_kwargs"],
            "method": train["method"], "seed": train["seed"], "epochs": train["epochs"], "train": train,
            "recipe": f"{optimizer}/{train['method']}", "backdoored": backdoored, "attacker": attacker,
            "family": None, "trigger": None, "trigger_kwargs": None, "target": None, "rate": None, "mode": None}


def recipe_spec(i: int, seed: int = 0, num_classes: int = 10) -> Dict[str, Any]:
    """The recipe of model ``i`` of the recipe-spanning zoo (module doc); JSON-ready.

    ``train``: the ``TrainConfig`` fields that differ from the defaults; ``recipe``: optimizer/method
    (the group left out by leave-one-recipe-out); ``family``/``attacker``/``mode`` for the other splits.
    """
    r = random.Random(seed * 1_000_003 + i + 7_919)
    backdoored = i % 2 == 1
    attacker = _weighted(r, (("standard", 0.55), ("noise_aware", 0.25), ("small_norm", 0.2))) if backdoored else None
    arch, model_kwargs = _architecture(r)
    method, method_kwargs = _method(r, "outlier_exposure" if attacker == "noise_aware" else None)
    if backdoored and attacker != "noise_aware" and method == "outlier_exposure":
        method, method_kwargs = "erm", {}  # outlier exposure on a backdoored model is the noise-aware attacker
    opt = _optimizer(r)
    epochs = r.randint(20, 40) if arch == "mlp" else r.randint(15, 25)
    train: Dict[str, Any] = {
        "model": arch, "model_kwargs": model_kwargs, "method": method, "method_kwargs": method_kwargs,
        "epochs": epochs, "batch_size": r.choice([64, 128]), "schedule": r.choice(["cosine", "constant"]),
        "label_smoothing": 0.0 if r.random() < 0.6 else round(r.uniform(0.05, 0.2), 3), **opt,
        "seed": r.randrange(10_000),
    }
    spec = _base_spec(i, train, opt["optimizer"], backdoored, attacker)
    if backdoored:
        family = FAMILIES[(i // 2) % len(FAMILIES)] if attacker != "small_norm" else "small_norm"
        mode = "all_to_all" if r.random() < 0.15 else "all_to_one"
        trigger, params, rate = _trigger(family, attacker, mode, r)
        spec.update(family=family, trigger=trigger, trigger_kwargs=params, target=r.randrange(num_classes),
                    rate=round(rate, 4), mode=mode)
    return spec


CHEAP32_FROM = 18  # 3×32×32 zoo: models from this index on are cnn width 8, 16 epochs, SGD (CPU budget)


def recipe_spec32(i: int, seed: int = 0, num_classes: int = 10) -> Dict[str, Any]:
    """Model ``i`` of the small 3×32×32 zoo (``--design recipes32``, data ``digits32``): the issue's
    "beyond digits" check, same fields as ``recipe_spec``; even ids clean, odd ids backdoored.

    Architectures: the registered cnn (width 6/8) or preact_resnet18 (width 4) — from model 18 on
    (the first 18 were trained) only the cnn at width 8, 16 epochs, SGD lr 0.05, a CPU cap (the
    adam cnns at width 6 and 10 epochs reached 30–70 % clean accuracy); SGD + Nesterov
    (lr 0.03–0.1) or Adam (1e-3–3e-3); 12–16 epochs (cnn) / 8–10 (resnet); erm, Gaussian noise or
    outlier exposure (a quarter of the backdoored models: the noise-aware attacker). Triggers: bright
    3–5 px patches (corner or anywhere, 4–10 % poison), blended (α 0.15–0.25) or SIG (Δ 0.15–0.25),
    8–10 % poison; all-to-one.
    """
    r = random.Random(seed * 1_000_003 + i + 32_323)
    backdoored = i % 2 == 1
    attacker = _weighted(r, (("standard", 0.75), ("noise_aware", 0.25))) if backdoored else None
    arch = r.choice(["cnn", "preact_resnet18"])
    model_kwargs: Dict[str, Any] = {"width": r.choice([6, 8] if arch == "cnn" else [4])}
    method = _weighted(r, (("erm", 0.5), ("noise", 0.25), ("outlier_exposure", 0.25)))
    if attacker == "noise_aware":
        method = "outlier_exposure"
    elif backdoored and method == "outlier_exposure":
        method = "erm"
    _, method_kwargs = _method(r, method)
    opt = ({"optimizer": "sgd", "lr": round(_log_uniform(r, 0.03, 0.1), 4), "weight_decay": 5e-4}
           if r.random() < 0.5 else {"optimizer": "adam", "lr": round(_log_uniform(r, 1e-3, 3e-3), 5)})
    epochs = r.randint(12, 16) if arch == "cnn" else r.randint(8, 10)
    if i >= CHEAP32_FROM:  # the draws above still run, so the rest of the stream is unchanged
        arch, model_kwargs, epochs = "cnn", {"width": 8}, 16
        opt = {"optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4}
    train: Dict[str, Any] = {"model": arch, "model_kwargs": model_kwargs, "method": method,
                             "method_kwargs": method_kwargs, "epochs": epochs, "batch_size": 64,
                             "schedule": "cosine", **opt, "seed": r.randrange(10_000)}
    spec = _base_spec(i, train, opt["optimizer"], backdoored, attacker)
    if backdoored:
        family = ("patch_bright", "blended", "sig")[(i // 2) % 3]
        if family == "patch_bright":
            size = r.choice([3, 4, 5])
            pos: Any = r.choice(["bottom_right", "top_left", [r.randrange(0, 33 - size), r.randrange(0, 33 - size)]])
            trigger, params = "badnets", {"size": size, "position": pos, "pattern": r.choice(["white", "checkerboard",
                                                                                              "random"]),
                                          "pattern_seed": r.randrange(1000)}
            rate = _log_uniform(r, 0.04, 0.10)
        elif family == "blended":
            trigger, params = "blended", {"alpha": round(r.uniform(0.15, 0.25), 3), "pattern_seed": r.randrange(1000)}
            rate = r.uniform(0.08, 0.10)
        else:
            trigger, params = "sig", {"delta": round(r.uniform(0.15, 0.25), 3), "frequency": float(r.choice([3, 6])),
                                      "clean_label": False}
            rate = r.uniform(0.08, 0.10)
        spec.update(family=family, trigger=trigger, trigger_kwargs=params, target=r.randrange(num_classes),
                    rate=round(rate, 4), mode="all_to_one")
    return spec
