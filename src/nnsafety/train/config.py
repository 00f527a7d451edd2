"""Training configuration: one dataclass, filled from defaults < TOML file < flags < ``--set``."""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "constant")


def model_train_defaults(name: Any) -> Dict[str, Any]:
    """The training options a registered model brings (its builder's ``train_defaults``; {} if none).

    ``TrainConfig``'s defaults are the digits recipe (SGD); a model that does not train with it (the
    bilstm) names the options it needs. ``nnsafety train`` and ``train()`` without a config put them
    under whatever the user gives."""
    from ..models import MODELS

    if not isinstance(name, str) or name not in MODELS.names():
        return {}
    return dict(getattr(MODELS.get(name), "train_defaults", {}))


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved verbatim as ``config.json["train"]``.

    Defaults are the demo's digits recipe (SGD + Nesterov, cosine, batch 128). ``milestones`` are
    fractions of the total epochs for the step schedule; ``warmup_epochs`` ramps the learning rate
    linearly from 0. ``checkpoint_every`` (steps, 0 = at epoch ends only) adds mid-epoch
    checkpoints. ``normalize`` sets the model's first layer to the training set's mean/std.
    ``poison`` names a backdoor attack applied to the training set (``poison_kwargs``: rate,
    target, trigger parameters), for building backdoored models to test detectors on.
    ``augment`` names base augmentations applied to every training batch before the method, in
    order (``["random_crop", "hflip"]`` in the CIFAR recipes; none for digits), with
    ``augment_kwargs`` per op (``{"random_crop": {"padding": 4}}``).
    """

    data: str = "digits"
    data_root: Optional[str] = None
    model: str = "cnn"
    model_kwargs: Dict[str, Any] = field(default_factory=dict)
    method: str = "erm"
    method_kwargs: Dict[str, Any] = field(default_factory=dict)
    poison: Optional[str] = None
    poison_kwargs: Dict[str, Any] = field(default_factory=dict)
    augment: List[str] = field(default_factory=list)
    augment_kwargs: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    milestones: List[float] = field(default_factory=lambda: [0.5, 0.75])
    gamma: float = 0.1
    label_smoothing: float = 0.0
    seed: int = 0
    checkpoint_every: int = 0
    eval_every: int = 1
    normalize: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def need(ok: bool, what: str, got: Any) -> None:
            if not ok:
                raise ValueError(f"expected {what}, got {got!r}")

        for f in fields(self):  # types first, so the range checks below never compare a str to an int
            check, what = _FIELD_TYPES[f.type]
            need(check(getattr(self, f.name)), f"{f.name} {what}", getattr(self, f.name))

        need(self.epochs > 0, "epochs a positive integer", self.epochs)
        need(self.batch_size > 0, "batch_size a positive integer", self.batch_size)
        need(self.lr > 0, "lr > 0", self.lr)
        need(self.optimizer in OPTIMIZERS, f"optimizer one of {', '.join(OPTIMIZERS)}", self.optimizer)
        need(self.schedule in SCHEDULES, f"schedule one of {', '.join(SCHEDULES)}", self.schedule)
        need(0 <= self.momentum < 1, "momentum in [0, 1)", self.momentum)
        need(self.weight_decay >= 0, "weight_decay >= 0", self.weight_decay)
        need(0 <= self.warmup_epochs < self.epochs, "warmup_epochs in [0, epochs)", self.warmup_epochs)
        need(all(0 < m < 1 for m in self.milestones), "milestones a list of fractions in (0, 1)", self.milestones)
        need(0 < self.gamma <= 1, "gamma in (0, 1]", self.gamma)
        need(0 <= self.label_smoothing < 1, "label_smoothing in [0, 1)", self.label_smoothing)
        need(0 <= self.seed <= MAX_SEED, "seed an integer in 0..2**63-1", self.seed)
        need(self.checkpoint_every >= 0, "checkpoint_every a non-negative integer", self.checkpoint_every)
        need(self.eval_every > 0, "eval_every a positive integer", self.eval_every)
        # Poisoning options without an attack would train a clean model the user thinks is backdoored.
        need(self.poison is not None or not self.poison_kwargs,
             "--poison NAME with poison options (--poison-rate, --target, poison_kwargs)",
             f"poison_kwargs {self.poison_kwargs} and no --poison")
        if self.poison is not None:
            rate = self.poison_kwargs.get("rate")
            # rate 1 leaves no clean sample (all-to-one: there are not even enough candidates).
            need(_is_number(rate) and 0 < rate < 1, f"--poison-rate (poison_kwargs.rate) in (0, 1) with --poison "
                 f"{self.poison}", rate)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {', '.join(unknown)}; expected some of: {', '.join(sorted(known))}")
        return cls(**values)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# Every field's annotation (a string under ``from __future__ import annotations``) -> its check.
# bool takes only true/false: ``--set normalize=False`` (a string) must not count as true.
_FIELD_TYPES = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "Optional[str]": (lambda v: v is None or isinstance(v, str), "a string"),
    "int": (_is_int, "an integer"),
    "float": (_is_number, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "Dict[str, Any]": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "a table"),
    "List[float]": (lambda v: isinstance(v, list) and all(_is_number(m) for m in v), "a list of numbers"),
    "List[str]": (lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v), "a list of names"),
    "Dict[str, Dict[str, Any]]": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, dict)
                                                                     for k, t in v.items()), "a table of tables"),
}
MAX_SEED = 2 ** 63 - 1


def parse_value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, true/false, lists, quoted strings), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(values: Dict[str, Any], assignments: Sequence[str]) -> Dict[str, Any]:
    """Apply ``key=value`` strings; ``model_kwargs.width=64`` sets one kwarg of a table."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items()}
    known = {f.name for f in fields(TrainConfig)}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"expected --set key=value, got {item!r}")
        top, dot, sub = key.partition(".")
        if top not in known:
            raise ValueError(f"unknown option {top!r} in --set {item!r}; expected one of: {', '.join(sorted(known))}")
        if dot:
            if top not in ("model_kwargs", "method_kwargs", "poison_kwargs") or not sub:
                raise ValueError(f"expected model_kwargs.NAME=value, method_kwargs.NAME=value or "
                                 f"poison_kwargs.NAME=value, got {item!r}")
            out.setdefault(top, {})
            out[top] = dict(out[top])
            out[top][sub] = parse_value(raw)
        else:
            out[top] = parse_value(raw)
    return out


def load_toml(path: str | Path) -> Dict[str, Any]:
    """Read a TOML config whose keys are ``TrainConfig`` fields (tables for the kwargs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a TOML config file at {path}, found none")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
