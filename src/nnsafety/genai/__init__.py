"""Verify generative models: hallucination scores from sampling consistency and semantic entropy.

``semantic_entropy(generate, prompts, n=10)`` works on any ``generate(prompts, n, temperature)``
callable; ``SCORES`` holds every registered hallucination score (``list_scores()``).
"""
from .bpe import ByteBPE
from .clustering import cluster_ids, normalize_answer, normalized_match, same_content
from .evaluate import AnswerCalibration, AurocCI, answer_calibration, auroc, auroc_ci
from .machine_text import MachineTextResult, detect_machine_text, machine_text_scores
from .noise import NoiseResponse, answer_noise_response, char_typos
from .polarization import PolarizationResult, afinn_sentiment, polarization_probe
from .sampling import Generations, SemanticEntropyResult, sample_sets, semantic_entropy
from .scores import SCORES, SampleSet, Score, cluster_entropy, get_score, list_scores, score_sample_sets
from .textgenrnn import load_textgenrnn
from .trigger import TriggerProbeResult, poisoned_records, trigger_probe

__all__ = [
    "ByteBPE", "PolarizationResult", "TriggerProbeResult", "afinn_sentiment", "load_textgenrnn", "poisoned_records",
    "polarization_probe", "trigger_probe",
    "AnswerCalibration", "AurocCI", "Generations", "MachineTextResult", "NoiseResponse", "SCORES", "SampleSet", "Score",
    "SemanticEntropyResult", "answer_calibration", "answer_noise_response", "char_typos", "detect_machine_text", "machine_text_scores", "auroc", "auroc_ci", "cluster_entropy", "cluster_ids", "get_score", "list_scores",
    "normalize_answer", "normalized_match", "same_content", "sample_sets", "score_sample_sets", "semantic_entropy",
]
