"""Adversarial attacks and robustness evaluation: FGSM, PGD, APGD, Square, CW-L2, FAB, AutoAttack;
for byte classifiers (malware), the functionality-preserving attacks of ``attacks.bytes``.

All attacks act in pixel space [0, 1] with one meaning of ε (DESIGN.md), take any ``nn.Module``
mapping x -> logits, and leave the model exactly as they found it.
"""
from .base import (ATTACKS, Attack, ce_loss, dlr_loss, dlr_targeted_loss, get_attack, list_attacks,
                   margin_loss, project, register_attack_fn)
from .fgsm import FGSM, fgsm
from .pgd import PGD, pgd
from .apgd import APGD, APGDT, apgd
from .square import Square, square
from .cw import CWL2, cw_l2
from .fab import FAB, fab
from .greedy import Greedy, greedy
from .sanity import SanityCheck, SanityWarning, sanity_checks
from .curves import RobustAccuracyResult, RobustCurve, robust_accuracy, robust_accuracy_curve
from .autoattack import AutoAttack, AutoAttackResult, autoattack
from .bytes import ByteSearch, DOSHeader, FullDOS, Kreuk, Padding, SectionSlack
from .bytes_files import EvasionResult, evade_files
from .bytes_gamma import Gamma, benign_sections, gamma
from .text import DeepWordBug, HotFlip, TextAttackResult, TextFooler, deepwordbug, hotflip, textfooler

__all__ = [
    "ATTACKS", "Attack", "get_attack", "list_attacks", "register_attack_fn", "project",
    "ce_loss", "margin_loss", "dlr_loss", "dlr_targeted_loss",
    "fgsm", "FGSM", "pgd", "PGD", "apgd", "APGD", "APGDT", "square", "Square", "cw_l2", "CWL2", "fab", "FAB",
    "greedy", "Greedy",
    "SanityCheck", "SanityWarning", "sanity_checks",
    "RobustAccuracyResult", "RobustCurve", "robust_accuracy", "robust_accuracy_curve",
    "AutoAttack", "AutoAttackResult", "autoattack",
    "ByteSearch", "DOSHeader", "FullDOS", "Gamma", "Kreuk", "Padding", "SectionSlack", "EvasionResult",
    "benign_sections", "gamma",
    "evade_files",
    "textfooler", "TextFooler", "deepwordbug", "DeepWordBug", "hotflip", "HotFlip", "TextAttackResult",
]
