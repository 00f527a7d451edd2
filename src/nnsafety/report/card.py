"""The safety card: one JSON object with the model's identity, data, headline numbers, findings,
configuration, versions and seeds (schema: ``report/schema.py``, mirrored in
``docs/safety_card.schema.json``).

Non-finite floats become ``null`` (JSON has no NaN/inf); the overall verdict is the worst finding.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import math
import platform
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from .base import worst

SCHEMA_VERSION = "1.0"


def jsonable(v: Any) -> Any:
    """Plain JSON: dict keys as str, tuples as lists, non-finite floats and tensors handled."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, torch.Tensor):
        return jsonable(v.tolist())
    if hasattr(v, "item"):
        return jsonable(v.item())
    return str(v)


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of the state dict serialized as safetensors (the bytes ``save_weights`` would write)."""
    from safetensors.torch import save

    state = {k: t.detach().cpu().contiguous().clone() for k, t in model.state_dict().items()}
    return hashlib.sha256(save(state)).hexdigest()


def _versions() -> Dict[str, str]:
    import numpy

    from .. import __version__

    return {"nnsafety": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(terse=True)}


def _metric(result, section: str, key: str) -> Optional[Any]:
    for s in result.sections:
        if s.name == section and s.status == "ok":
            return s.output.metrics.get(key)
    return None


def build_card(result, model: nn.Module, dataset, ctx, identity: Dict[str, Any], seconds: float,
               skipped: List[str], cpu_seconds: float = 0.0) -> Dict[str, Any]:
    """The safety card of an audit (see the module docstring and the JSON Schema)."""
    findings = [f.to_dict() for s in result.sections for f in s.output.findings]
    # One clean accuracy per report: on every audit image, from the predictions made once per audit
    # (the attacks and corruptions sections measure subsets and say so); `--only attacks` no longer
    # puts the 150-image subset's accuracy in the headline.
    correct = ctx.correct  # derived from the audit's logits (empty for a language model)
    clean = float(correct.float().mean()) if correct.numel() else None
    text = ctx.domain is not None and ctx.domain.name == "token"  # the text sections (sections_text.py)
    attacks, corruptions, backdoor = (("text_attacks", "text_corruptions", "text_backdoor") if text
                                      else ("attacks", "corruptions", "backdoor"))
    bd = next((f for f in findings if f["section"] == backdoor and f["id"] == "backdoor"), None)
    model_id = {
        "name": result.name,
        "architecture": type(model).__name__,
        "architecture_kwargs": {},
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "weights_sha256": None,
        "weights_sha256_of": "safetensors serialization of the state dict",
        "source": "python",
        "training": None,
    }
    model_id.update({k: v for k, v in identity.items() if k in model_id})
    if model_id["weights_sha256"] is None:
        model_id["weights_sha256"] = weights_sha256(model)
    card = {
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model_id,
        "data": {"name": getattr(dataset, "name", "user data"), "split": "test" if identity.get("source") else None,
                 "n": len(dataset), "num_classes": ctx.num_classes, "in_shape": list(ctx.in_shape),
                 "classes": list(ctx.classes),
                 "domain": ctx.domain.config() if ctx.domain is not None else {"name": "image"}},
        "audit": {"budget": ctx.budget.name, "budget_settings": ctx.budget.to_dict(), "eps": ctx.eps,
                  "norm": "Linf", "sections_run": [s.name for s in result.sections], "sections_skipped": skipped,
                  "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3)},
        "verdict": worst([f["severity"] for f in findings]),
        "headline": {
            "clean_accuracy": clean,
            "robust_accuracy": _metric(result, attacks, "robust_accuracy"),
            "robust_accuracy_attack": _metric(result, attacks, "robust_accuracy_attack"),
            "eps": ctx.eps,
            "mean_corruption_accuracy": _metric(result, corruptions, "mean_corruption_accuracy"),
            "ece": _metric(result, "accuracy", "ece"),
            "backdoor_verdict": bd["severity"] if bd else None,
            "suspected_target": _metric(result, backdoor, "suspected_target") if bd and bd["severity"] != "pass"
            else None,
        },
        "metrics": {s.name: s.output.metrics for s in result.sections if s.status == "ok"},
        "findings": findings,
        "sections": {s.name: {"title": s.title, "status": s.status, "seconds": s.seconds,
                              "cpu_seconds": s.cpu_seconds, "error": s.error,
                              "config": s.config, "curves": s.output.curves} for s in result.sections},
        "versions": _versions(),
        "seeds": {"audit": ctx.seed, "training": (model_id["training"] or {}).get("seed")},
    }
    if getattr(ctx.domain, "generative", False):  # a language model's numbers (image cards stay as they were)
        card["headline"].update(perplexity=_metric(result, "perplexity", "perplexity"),
                                hallucination_rate=_metric(result, "hallucination", "hallucination_rate"),
                                hallucination_auroc=_metric(result, "hallucination", "semantic_entropy_auroc"))
    return jsonable(card)


def _pct(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def threat_text(card: Dict[str, Any]) -> str:
    """What the headline robust accuracy is measured under: L∞ ε for images, the word budget for text."""
    h = card["headline"]
    if card["data"].get("domain", {}).get("name") == "token":
        return h.get("robust_accuracy_attack") or "word-level attacks"
    return f"L∞ ε={h['eps']:g}"


def headline_lines(card: Dict[str, Any]) -> List[str]:
    """Verdict, the three numbers that matter, the backdoor verdict and the non-passing findings."""
    h = card["headline"]
    lines = [f"{card['model']['name']}: verdict {card['verdict'].upper()}"]
    if "perplexity" in h:  # a language model
        auroc = "n/a" if h["hallucination_auroc"] is None else f"{h['hallucination_auroc']:.3f}"
        ppl = "n/a" if h["perplexity"] is None else f"{h['perplexity']:.2f}"
        lines.append(f"perplexity {ppl}, hallucinated answers {_pct(h['hallucination_rate'])}, "
                     f"semantic-entropy AUROC {auroc}")
    else:
        lines.append(f"clean accuracy {_pct(h['clean_accuracy'])}, robust accuracy {_pct(h['robust_accuracy'])} "
                     f"({threat_text(card)}), mean corruption accuracy {_pct(h['mean_corruption_accuracy'])}")
    if h["backdoor_verdict"] is not None:
        tgt = f", suspected target class {h['suspected_target']}" if h["suspected_target"] is not None else ""
        bd = card["metrics"].get("backdoor", {})
        if bd.get("fpr") is not None:  # how often the scan's verdict is wrong, from its reference zoo
            tgt += (f" (reference {bd['reference']}: flags {_pct(bd['fpr'])} of clean models of unseen recipes, "
                    f"misses {_pct(bd['miss_rate'])} of backdoored ones)")
        lines.append(f"backdoor scan: {h['backdoor_verdict']}{tgt}")
    lines += [f"[{f['severity']}] {f['title']}: {f['reason']}" for f in card["findings"]
              if f["severity"] not in ("pass", "info")]
    return lines
