"""Robust training: one loop, a registry of methods, resumable run directories, DDP."""
from .config import TrainConfig, apply_overrides, load_toml
from .methods import METHODS, Method, MethodOutput, StepContext, create_method, list_methods, register_method
from .trainer import Trainer, TrainResult, train

__all__ = [
    "METHODS", "Method", "MethodOutput", "StepContext", "TrainConfig", "TrainResult", "Trainer",
    "apply_overrides", "create_method", "list_methods", "load_toml", "register_method", "train",
]
