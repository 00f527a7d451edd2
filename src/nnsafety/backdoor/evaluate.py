"""Backdoor metrics of a trained model: clean accuracy, attack success rate, robust accuracy."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from ..data.base import ArrayDataset
from .._model import predict_logits
from ..data.poison import PoisonedDataset, backdoor_label, trigger_from_config
from ..data.triggers import Trigger

AttackConfig = Union[Dict[str, Any], PoisonedDataset]


@dataclass
class BackdoorMetrics:
    """C-Acc on clean test data; ASR = fraction of triggered non-target test inputs predicted as the
    attacker's label; R-Acc = accuracy w.r.t. the true labels on those same triggered inputs."""

    clean_accuracy: float
    attack_success_rate: float
    robust_accuracy: float
    n_clean: int
    n_triggered: int
    attack: str
    target: int
    mode: str

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @property
    def implanted(self) -> bool:
        """The zoo's definition of a working backdoor: ASR ≥ 0.9."""
        return self.attack_success_rate >= 0.9


def _resolve(attack_config: AttackConfig) -> tuple[Trigger, Dict[str, Any]]:
    if isinstance(attack_config, PoisonedDataset):
        return attack_config.trigger, attack_config.poison_config
    return trigger_from_config(attack_config), attack_config


def backdoor_metrics(model: nn.Module, test_set: ArrayDataset, attack_config: AttackConfig,
                     batch_size: int = 1024) -> BackdoorMetrics:
    """C-Acc, ASR and R-Acc of ``model`` on ``test_set`` under the recorded attack.

    ``attack_config``: a run's ``config.json["poison"]`` dict (or the ``PoisonedDataset`` itself).
    ASR uses only test inputs whose true class differs from the attacker's label (all-to-one: not of
    the target class; all-to-all: every input, label y + 1 mod K), as is standard.
    """
    trigger, cfg = _resolve(attack_config)
    mode, target = cfg.get("mode", "all_to_one"), int(cfg.get("target", 0))
    x, y = test_set.tensors()
    with torch.no_grad():  # predict_logits restores the model's train/eval modes itself
        pred_clean = predict_logits(model, x, batch_size).argmax(1).cpu()
        bd_y = backdoor_label(y, target, mode, test_set.num_classes)
        keep = bd_y != y
        pred_t = predict_logits(model, trigger.apply(x[keep]), batch_size).argmax(1).cpu()
    n_t = int(keep.sum())
    return BackdoorMetrics(
        clean_accuracy=float((pred_clean == y).double().mean()),
        attack_success_rate=float((pred_t == bd_y[keep]).double().mean()) if n_t else 0.0,
        robust_accuracy=float((pred_t == y[keep]).double().mean()) if n_t else 0.0,
        n_clean=int(y.numel()), n_triggered=n_t, attack=str(cfg.get("attack")), target=target, mode=mode,
    )


def backdoor_metrics_run(path, attack: Optional[str] = None, target: Optional[int] = None,
                         **trigger_kwargs: Any) -> BackdoorMetrics:
    """``nnsafety eval RUN --poison NAME``: metrics under the run's recorded attack, or under
    ``attack`` (trigger defaults or ``trigger_kwargs``, ``target`` default 0) for a run trained clean."""
    from .. import runs
    from ..data import load_dataset

    run = runs.load_run(path)
    data = run.config["data"]
    test = load_dataset(data["name"], root=data.get("root"), split="test")
    recorded = run.config.get("poison")
    if recorded and (attack is None or attack == recorded["attack"]) and not trigger_kwargs and target is None:
        cfg = recorded
    else:
        if attack is None:
            raise ValueError(f"{path} was trained without poisoning; expected an attack name (--poison NAME)")
        cfg = {"attack": attack, "target": int(target or 0), "mode": "all_to_one", "trigger": dict(trigger_kwargs)}
    if getattr(test, "texts", None) is not None:  # a text run: its own vocabulary, string triggers
        from .evaluate_text import text_run_backdoor_metrics

        return text_run_backdoor_metrics(run.model, test, cfg, run.path)
    return backdoor_metrics(run.model, test, cfg)
