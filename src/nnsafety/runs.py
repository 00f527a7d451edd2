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

from ._io import atomic_write, write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)

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
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"expected a run directory with {CONFIG}, found none at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


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
    model = build_model(config["model"])
    weights = run_dir / WEIGHTS
    state, _ = load_tensors(weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
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
