"""Backdoors: triggers and poisoning, backdoored-model metrics, the model zoo, and detectors.

``triggers`` and ``poison`` are pure data operations (the trainer imports them); everything that
needs models, metrics or the trainer lives in the other modules and is imported lazily here so
``import nnsafety.backdoor.poison`` stays light.
"""
from .poison import PoisonedDataset, backdoor_label, poison_dataset, trigger_from_config
from .triggers import TRIGGERS, Trigger, apply_trigger, create_trigger, list_triggers, register_trigger

__all__ = [
    "PoisonedDataset", "TRIGGERS", "Trigger", "apply_trigger", "backdoor_label", "create_trigger",
    "list_triggers", "poison_dataset", "register_trigger", "trigger_from_config",
]
