"""Jensen–Shannon consistency loss of AugMix (Hendrycks et al., ICLR 2020).

JSD(p₁, …, p_V) = (1/V) Σᵢ KL(pᵢ ‖ M), M = (1/V) Σᵢ pᵢ, pᵢ = softmax(zᵢ); as in the reference code
log M is taken of M clamped to [1e-7, 1] and each KL is averaged over the batch. The method
multiplies it by λ = 12 (the paper's weight).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def jsd_loss(*logits: torch.Tensor) -> torch.Tensor:
    """Mean over views of KL(softmax(zᵢ) ‖ M), batch-mean; ``jsd_loss(z_clean, z_aug1, z_aug2)``."""
    if len(logits) < 2:
        raise ValueError(f"expected logits of at least 2 views, got {len(logits)}")
    shapes = {tuple(z.shape) for z in logits}
    if len(shapes) != 1 or logits[0].dim() != 2:
        raise ValueError(f"expected N×K logits of one shape per view, got shapes {sorted(shapes)}")
    probs = [F.softmax(z, dim=1) for z in logits]
    log_m = torch.clamp(sum(probs) / len(probs), 1e-7, 1.0).log()
    return sum(F.kl_div(log_m, p, reduction="batchmean") for p in probs) / len(probs)
