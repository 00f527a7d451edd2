"""The training-method registry: each method turns (model, batch) into a loss.

A method is a small class: the constructor takes and validates its hyper-parameters (published
defaults as keyword defaults), ``check(model)`` fails at start when the model cannot serve it (e.g.
no mixing hook), and ``loss(model, x, y, ctx)`` returns a ``MethodOutput``. The trainer owns
everything else (batches, optimizer, schedule, checkpoints), so a new method never copies a loop.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..._registry import Registry

METHODS: Registry[type] = Registry("method")


register_method = METHODS.register_named


@dataclass
class StepContext:
    """What a method may need besides the batch.

    ``module`` is the bare model (not the DDP wrapper) for attribute access and inner attack loops
    that must not trigger gradient synchronisation; ``generator`` is the one source of the method's
    randomness, checkpointed with the run so resume is bit-exact.
    """

    module: nn.Module
    generator: torch.Generator
    num_classes: int
    label_smoothing: float = 0.0
    epoch: int = 0
    step: int = 0
    domain: Any = None  # the training data's Domain (constrained attacks project onto it)


@dataclass
class MethodOutput:
    """The loss to minimise, and logits whose argmax against ``y`` is the running train accuracy
    (``None`` when no single prediction is meaningful)."""

    loss: torch.Tensor
    logits: Optional[torch.Tensor] = None


class Method:
    """Base class: stores hyper-parameters; subclasses implement ``loss``."""

    name = "method"

    def check(self, model: nn.Module) -> None:
        """Raise ``ValueError`` at start if ``model`` cannot be trained with this method."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> MethodOutput:
        raise NotImplementedError

    def hparams(self) -> Dict[str, Any]:
        params = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in params if k != "self"}


def accepted_kwargs(cls: type) -> List[str]:
    return [k for k in inspect.signature(cls.__init__).parameters if k != "self"]


def create_method(name: str, **kwargs) -> Method:
    """Build a registered method; unknown hyper-parameters fail with the accepted ones listed."""
    return METHODS.create(name, "hyper-parameter", **kwargs)


def list_methods(domain: Optional[str] = None) -> List[str]:
    """Registered training methods; with ``domain`` (e.g. "image", "token"), those that support it."""
    return METHODS.names(domain)
