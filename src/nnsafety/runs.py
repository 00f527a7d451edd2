"""Run directories: the unit on disk (config.json, model.safetensors, metrics.jsonl, checkpoint/).

Everything is written atomically (temp file in the same folder, fsync, ``os.replace``) so a process
killed at any instant leaves either the old file or the new one, never half of one. Nothing is ever
unpickled: weights and checkpoint state are safetensors, everything else is JSON.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._io import atomic_write, probe_writable, write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT = "state.safetensors"
CHECKPOINT_JSON = "state.json"
_META_KEY = "nnsafety"


def save_tensors_atomic(
    path: Path, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None
) -> None:
    # safetensors refuses views and non-contiguous storage; clone() also breaks shared storage.
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(flat, tmp, metadata=metadata))


def load_tensors(path: Path) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Read a safetensors file (tensors + string metadata); anything else is refused."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a safetensors file at {path}, found none")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a valid safetensors file ({e}); refusing to load it") from None


def save_weights(model: nn.Module, path: Path) -> None:
    save_tensors_atomic(Path(path), model.state_dict())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- metrics.jsonl

def append_metrics(run_dir: Path, record: Dict[str, Any]) -> None:
    """Append one JSON line; a line is small, written with one ``write`` and flushed."""
    with open(Path(run_dir) / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()


def read_metrics(run_dir: Path) -> List[Dict[str, Any]]:
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a torn last line of a killed process; everything before it is valid
    return records


def truncate_metrics(run_dir: Path, keep) -> None:
    """Keep only records for which ``keep(record)`` is true (used on resume)."""
    records = [r for r in read_metrics(run_dir) if keep(r)]
    write_text_atomic(Path(run_dir) / METRICS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


# ----------------------------------------------------------------------------- checkpoints

def save_checkpoint(run_dir: Path, tensors: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> None:
    """Write the resumable state as one safetensors file with its JSON metadata embedded.

    One file is the unit of atomicity, so weights, optimizer, RNG and counters always agree;
    ``state.json`` is a human-readable mirror of the metadata, never read back.
    """
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    save_tensors_atomic(ckpt / CHECKPOINT, tensors, {_META_KEY: json.dumps(meta, sort_keys=True)})
    write_json_atomic(ckpt / CHECKPOINT_JSON, meta)


def load_checkpoint(run_dir: Path) -> Optional[Tuple[Dict[str, torch.Tensor], Dict[str, Any]]]:
    path = Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT
    if not path.exists():
        return None
    tensors, metadata = load_tensors(path)
    if _META_KEY not in metadata:
        raise ValueError(f"{path} has no nnsafety metadata; not a checkpoint written by nnsafety")
    return tensors, json.loads(metadata[_META_KEY])


# ----------------------------------------------------------------------------- loading a run

@dataclass
class Run:
    """A trained model rebuilt from a run directory, with its config and metrics history."""

    path: Path
    model: nn.Module
    config: Dict[str, Any]
    metrics: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def read_config(run_dir: Path) -> Dict[str, Any]:
    """``config.json`` of a run, checked to be a JSON object (the trainer's keys are checked where
    they are used, e.g. ``check_model_spec``)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"expected a run directory with {CONFIG}, found none at {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object, got a JSON {type(config).__name__}")
    return config


def check_model_spec(config: Dict[str, Any], where: Path) -> Dict[str, Any]:
    """``config["model"]`` as the trainer writes it, or a one-line ``ValueError`` saying what is off."""
    spec = config.get("model")
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a \"model\" object (name, num_classes, in_shape), got {spec!r}")
    if spec.get("name") is None and isinstance(spec.get("class"), str):
        raise ValueError(f"{where}: the run was trained with a user's own module ({spec['class']}), which cannot "
                         "be rebuilt by name; load its model.safetensors into that module yourself")
    problems = []
    if not isinstance(spec.get("name"), str):
        problems.append(f"name a registered model name, got {spec.get('name')!r}")
    k = spec.get("num_classes")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        problems.append(f"num_classes an integer >= 2, got {k!r}")
    shape = spec.get("in_shape")
    if not (isinstance(shape, list) and len(shape) in (1, 3)
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        problems.append(f"in_shape a list of 1 or 3 positive integers, got {shape!r}")
    for key in ("mean", "std"):
        v = spec.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(m, (int, float)) for m in v)):
            problems.append(f"{key} a list of numbers, got {v!r}")
    if not isinstance(spec.get("kwargs", {}), dict):
        problems.append(f"kwargs an object, got {spec.get('kwargs')!r}")
    if problems:
        raise ValueError(f"{where}: expected model " + "; ".join(problems))
    return spec


def check_finite_weights(state: Dict[str, torch.Tensor], where: Path) -> None:
    """Refuse weights holding NaN or inf: such a model answers with garbage (accuracy near chance,
    loss nan) that every metric would then report as if it were measured."""
    bad = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ValueError(f"{where} holds non-finite weights (NaN or inf) in {len(bad)} tensor(s): "
                         f"{', '.join(sorted(bad)[:5])}; refusing to load it")


def build_model(model_spec: Dict[str, Any]) -> nn.Module:
    """``config["model"]`` -> a fresh registered model (spec written by the trainer)."""
    from .models import create_model

    return create_model(
        model_spec["name"],
        num_classes=model_spec["num_classes"],
        in_shape=model_spec["in_shape"],
        mean=model_spec.get("mean"),
        std=model_spec.get("std"),
        **model_spec.get("kwargs", {}),
    )


def load_run(path: str | os.PathLike, device: str | torch.device = "cpu") -> Run:
    """Rebuild a run's model from ``config.json`` + ``model.safetensors`` (no pickle anywhere)."""
    run_dir = Path(path)
    config = read_config(run_dir)
    model = build_model(check_model_spec(config, run_dir / CONFIG))
    weights = run_dir / WEIGHTS
    state, _ = load_tensors(weights)
    check_finite_weights(state, weights)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # same names, other shapes (e.g. num_classes or width differ)
        first = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e))
        raise ValueError(f"{weights} does not match the model in {CONFIG}: {first}") from None
    if missing or unexpected:
        raise ValueError(
            f"{weights} does not match the model in {CONFIG}: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    model.to(device).eval()
    return Run(path=run_dir, model=model, config=config, metrics=read_metrics(run_dir))


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def iter_files(run_dir: Path) -> Iterable[Path]:
    return sorted(p for p in Path(run_dir).rglob("*") if p.is_file())
