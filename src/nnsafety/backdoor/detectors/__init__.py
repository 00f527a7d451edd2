"""Backdoor detectors: one registered unit per file, all returning ``DetectionResult``."""
from .base import (
    DETECTORS, NEEDS, DetectionContext, DetectionResult, Detector, NotApplicable, create_detector, list_detectors,
    mad_anomaly, register_detector,
)
from . import (  # noqa: F401  (registers the detectors)
    activation_clustering, neural_cleanse, noise_response, spectral_signature, strip, universal_perturbation, warp_inversion,
    weights,
)
from . import dbs_text, embedding_outlier, firm_scan, lexicon_scan, strip_text, trigger_text, trigger_token, vocab_scan  # noqa: F401  (text)
from . import feature  # noqa: F401  (feature space)
from .meta import MetaClassifier, ProfileMeta, load_meta, reference_metas

__all__ = [
    "DETECTORS", "MetaClassifier", "NEEDS", "NotApplicable", "ProfileMeta", "DetectionContext", "DetectionResult",
    "Detector", "create_detector", "list_detectors", "load_meta", "mad_anomaly", "reference_metas", "register_detector",
]
