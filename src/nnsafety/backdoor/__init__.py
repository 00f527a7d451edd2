"""Backdoors: backdoored-model metrics, the model zoo, detectors, and the calibrated ``scan``.

Triggers and poisoning are pure data operations and live in ``nnsafety.data`` (the trainer uses
them, and the trainer sits below this package); they are re-exported here for convenience.
"""
from ..data.poison import PoisonedDataset, backdoor_label, poison_dataset, trigger_from_config
from ..data.triggers import TRIGGERS, Trigger, apply_trigger, create_trigger, list_triggers, register_trigger
from .scan import ScanResult, list_references, load_reference, scan

from .detect import detect, detect_run, detect_zoo
from .detectors import (DETECTORS, DetectionContext, DetectionResult, MetaClassifier, ProfileMeta, create_detector,
                        list_detectors, load_meta, reference_metas)
from .detectors.noise_response import new_profile_meta

__all__ = [
    "DETECTORS", "DetectionContext", "DetectionResult", "MetaClassifier", "ProfileMeta", "ScanResult",
    "create_detector", "detect", "detect_run", "detect_zoo", "list_detectors", "list_references", "load_meta",
    "load_reference", "new_profile_meta", "reference_metas", "scan",
    "PoisonedDataset", "TRIGGERS", "Trigger", "apply_trigger", "backdoor_label", "create_trigger",
    "list_triggers", "poison_dataset", "register_trigger", "trigger_from_config",
]
