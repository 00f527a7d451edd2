"""Training methods: one registered unit per method, each turning (model, batch) into a loss."""
from .base import (
    METHODS, Method, MethodOutput, StepContext, accepted_kwargs, create_method, list_methods, register_method,
)
from . import erm  # noqa: F401  (registers the methods)
from . import adversarial, augmix, constrained, mixing, noise, noisymix, text_adversarial  # noqa: F401,E402

__all__ = [
    "METHODS", "Method", "MethodOutput", "StepContext", "accepted_kwargs", "create_method", "list_methods",
    "register_method",
]
