"""Flatten the trainer's resumable state into safetensors tensors + JSON, and back.

Optimizer state dicts hold tensors (momentum buffers, Adam moments) next to plain numbers; the
tensors go into the safetensors file under ``optim/<param index>/<key>`` and the rest into JSON,
so a checkpoint never needs pickle.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import nn


def pack_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rng_states: List[Dict[str, torch.Tensor]],
) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    tensors: Dict[str, torch.Tensor] = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: Dict[str, Dict[str, Any]] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{idx}/{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    for rank, states in enumerate(rng_states):
        for name, value in states.items():
            tensors[f"rng/{rank}/{name}"] = value
    meta = {"optim_param_groups": opt["param_groups"], "optim_scalars": scalars}
    return tensors, meta


def unpack_state(
    tensors: Dict[str, torch.Tensor],
    meta: Dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rank: int,
) -> Dict[str, torch.Tensor]:
    """Load model and optimizer state in place; return this rank's RNG states."""
    model_state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    model.load_state_dict(model_state, strict=True)
    state: Dict[int, Dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["optim_scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["optim_param_groups"]})
    prefix = f"rng/{rank}/"
    rng = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not rng:
        raise ValueError(f"checkpoint has no RNG state for rank {rank}")
    return rng


def capture_rng(generator: torch.Generator) -> Dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state(), "method": generator.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng(states: Dict[str, torch.Tensor], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    generator.set_state(states["method"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
