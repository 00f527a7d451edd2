"""The safety-card schema (docs copy, validator) and the budget presets."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nnsafety.report import PRESETS, get_budget
from nnsafety.report.schema import SCHEMA, schema_text, validate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "safety_card.schema.json"


def test_docs_schema_is_the_package_schema():
    assert DOCS.read_text(encoding="utf-8") == schema_text()
    assert json.loads(DOCS.read_text(encoding="utf-8")) == SCHEMA


@pytest.mark.parametrize("mutate, path", [
    (lambda c: c.pop("findings"), "$: missing required property 'findings'"),
    (lambda c: c.__setitem__("verdict", "ok"), "$.verdict: expected one of"),
    (lambda c: c["model"].__setitem__("weights_sha256", "abc"), "$.model.weights_sha256: expected to match"),
    (lambda c: c["model"].__setitem__("parameters", 1.5), "$.model.parameters: expected integer"),
    (lambda c: c["model"].__setitem__("parameters", True), "$.model.parameters: expected integer"),
    (lambda c: c["headline"].__setitem__("clean_accuracy", 1.2), "$.headline.clean_accuracy: expected <= 1"),
    (lambda c: c.__setitem__("surprise", 1), "$: unexpected property 'surprise'"),
    (lambda c: c["findings"][0].__setitem__("severity", "notice"), "$.findings[0].severity: expected one of"),
    (lambda c: c["sections"]["accuracy"].__setitem__("status", "meh"), "$.sections.accuracy.status"),
    (lambda c: c["sections"]["accuracy"]["curves"]["reliability"].__setitem__("x", "no"),
     "$.sections.accuracy.curves.reliability.x: expected array"),
])
def test_validator_catches_each_violation(full_audit, mutate, path):
    card = copy.deepcopy(full_audit.card)
    assert validate(card) == []
    mutate(card)
    errors = validate(card)
    assert len(errors) == 1 and errors[0].startswith(path), errors


def test_validator_refuses_unsupported_keywords():
    with pytest.raises(ValueError, match="not supported"):
        validate({}, {"type": "object", "oneOf": []})


def test_presets_grow_from_quick_to_thorough():
    q, s, t = PRESETS["quick"], PRESETS["standard"], PRESETS["thorough"]
    for key in ("n_attack", "pgd_steps", "n_hessian", "lanczos_iter", "trace_hvp", "density_steps", "nc_steps"):
        assert getattr(q, key) <= getattr(s, key) <= getattr(t, key), key
    assert q.autoattack is None and t.autoattack == "standard" and t.autoattack_components is None
    assert t.density_runs * t.density_steps >= 3 * 80  # the full SLQ density of the Hessian module


def test_get_budget_overrides_and_errors():
    b = get_budget("quick", n_attack=10)
    assert b.n_attack == 10 and b.name == "quick (modified)" and PRESETS["quick"].n_attack != 10
    with pytest.raises(ValueError, match="unknown budget field"):
        get_budget("quick", n_atack=10)
    with pytest.raises(ValueError, match="expected budget one of"):
        get_budget("huge")
