"""The JSON Schema of ``safety_card.json`` and a small validator for the subset of JSON Schema it uses.

``docs/safety_card.schema.json`` is this ``SCHEMA`` written out (``write_schema``; a test keeps the
two identical). The validator covers exactly the keywords used here — type (one or a list), enum,
const, required, properties, additionalProperties (bool or schema), items, minimum, maximum,
minLength, pattern, $ref to ``#/$defs/...`` — so no jsonschema dependency is needed; an unknown
keyword raises, so the schema cannot silently use something the validator ignores.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

NUM = {"type": ["number", "null"]}
_FRACTION = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_SEVERITY = {"enum": ["info", "pass", "warn", "fail"]}
_VERDICT = {"enum": ["pass", "warn", "fail"]}
_CURVE = {"type": "object", "required": ["x", "y"], "properties": {
    "x": {"type": "array", "items": NUM}, "y": {"type": ["array", "null"], "items": NUM},
    "xlabel": {"type": "string"}, "ylabel": {"type": "string"}}, "additionalProperties": False}

SCHEMA: Dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "nnsafety/safety_card.schema.json",
    "title": "nnsafety safety card",
    "description": "What `nnsafety audit` found about one model: identity, data, headline numbers, findings "
                   "(pass/warn/fail with reasons), per-section configuration and curves, versions and seeds.",
    "type": "object",
    "required": ["schema_version", "created", "model", "data", "audit", "verdict", "headline", "metrics",
                 "findings", "sections", "versions", "seeds"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": "1.0", "description": "Version of this schema."},
        "created": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT", "description": "UTC time, ISO 8601."},
        "model": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "architecture", "parameters", "weights_sha256", "source"],
            "properties": {
                "name": {"type": "string", "description": "Run directory name or the name given to audit()."},
                "architecture": {"type": "string", "description": "Registered model name or the module's class."},
                "architecture_kwargs": {"type": "object"},
                "class": {"type": "string", "description": "Python class of the audited module."},
                "parameters": {"type": "integer", "minimum": 0, "description": "Number of parameters."},
                "weights_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "weights_sha256_of": {"type": "string", "description": "What was hashed."},
                "source": {"type": "string", "description": "Run directory, or 'python' for a module."},
                "training": {"type": ["object", "null"], "description": "Method, epochs, dataset, seed of a run."},
            },
        },
        "data": {
            "type": "object", "required": ["name", "n", "num_classes", "in_shape", "classes"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"}, "split": {"type": ["string", "null"]},
                "n": {"type": "integer", "minimum": 1}, "num_classes": {"type": "integer", "minimum": 1},
                "in_shape": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "classes": {"type": "array", "items": {"type": "string"}},
                "domain": {"type": "object", "required": ["name"],
                           "description": "The input domain audited (nnsafety.domains config: name and parameters)."},
            },
        },
        "audit": {
            "type": "object", "required": ["budget", "eps", "sections_run", "sections_skipped", "seconds"],
            "additionalProperties": False,
            "properties": {
                "budget": {"type": "string"}, "budget_settings": {"type": "object"},
                "eps": {"type": "number", "minimum": 0, "maximum": 1, "description": "L∞ ε, pixel units."},
                "norm": {"const": "Linf"},
                "sections_run": {"type": "array", "items": {"type": "string"}},
                "sections_skipped": {"type": "array", "items": {"type": "string"}},
                "seconds": {"type": "number", "minimum": 0, "description": "Wall-clock time."},
                "cpu_seconds": {"type": "number", "minimum": 0, "description": "Process CPU time."},
            },
        },
        "verdict": {**_VERDICT, "description": "The worst severity among the findings (info findings "
                                                "never change it)."},
        "headline": {
            "type": "object", "additionalProperties": False,
            "required": ["clean_accuracy", "robust_accuracy", "eps", "mean_corruption_accuracy", "backdoor_verdict"],
            "description": "The numbers that matter; null where the section was skipped or failed.",
            "properties": {
                "clean_accuracy": _FRACTION, "robust_accuracy": _FRACTION,
                "robust_accuracy_attack": {"type": ["string", "null"]},
                "eps": {"type": "number"}, "mean_corruption_accuracy": _FRACTION, "ece": _FRACTION,
                "backdoor_verdict": {"enum": ["pass", "warn", "fail", None]},
                "suspected_target": {"type": ["integer", "null"], "minimum": 0},
                "perplexity": {"type": ["number", "null"], "minimum": 1,
                               "description": "Language models: held-out perplexity (tokens)."},
                "hallucination_rate": {**_FRACTION, "description": "Language models: share of factworld answers "
                                                                   "made up."},
                "hallucination_auroc": {**_FRACTION, "description": "Language models: semantic entropy's AUROC "
                                                                    "for flagging them."},
            },
        },
        "metrics": {"type": "object", "description": "Per section (ok ones only): its headline numbers.",
                    "additionalProperties": {"type": "object"}},
        "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}},
        "sections": {"type": "object", "additionalProperties": {"$ref": "#/$defs/section"}},
        "versions": {"type": "object", "required": ["nnsafety", "torch", "python"],
                     "additionalProperties": {"type": "string"}},
        "seeds": {"type": "object", "required": ["audit"], "additionalProperties": False,
                  "properties": {"audit": {"type": "integer"}, "training": {"type": ["integer", "null"]}}},
    },
    "$defs": {
        "finding": {
            "type": "object", "required": ["section", "id", "severity", "title", "reason"],
            "additionalProperties": False,
            "properties": {"section": {"type": "string"}, "id": {"type": "string"}, "severity": _SEVERITY,
                           "title": {"type": "string", "minLength": 1}, "reason": {"type": "string", "minLength": 1}},
        },
        "section": {
            "type": "object", "required": ["title", "status", "seconds", "error", "config", "curves"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string"}, "status": {"enum": ["ok", "error"]},
                "seconds": {"type": "number", "minimum": 0}, "cpu_seconds": {"type": "number", "minimum": 0},
                "error": {"type": ["string", "null"]},
                "config": {"type": "object", "description": "Everything the section was run with."},
                "curves": {"type": "object", "additionalProperties": _CURVE},
            },
        },
    },
}

_TYPES = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str), "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}
_ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}


def validate(instance: Any, schema: Dict[str, Any] = SCHEMA) -> List[str]:
    """Every violation as ``"<json path>: <problem>"`` (empty list: valid)."""
    errors: List[str] = []
    _check(instance, schema, schema, "$", errors)
    return errors


def _check(v: Any, s: Dict[str, Any], root: Dict[str, Any], path: str, errors: List[str]) -> None:
    unknown = set(s) - _ANNOTATIONS - {"type", "enum", "const", "required", "properties", "additionalProperties",
                                       "items", "minimum", "maximum", "minLength", "pattern", "$ref"}
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} at {path} are not supported by this validator")
    if "$ref" in s:
        ref = s["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"expected a $ref to #/$defs/..., got {ref!r}")
        _check(v, root["$defs"][ref.split("/")[-1]], root, path, errors)
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(_TYPES[t](v) for t in types):
            errors.append(f"{path}: expected {' or '.join(types)}, got {type(v).__name__}")
            return
    if "enum" in s and v not in s["enum"]:
        errors.append(f"{path}: expected one of {s['enum']}, got {v!r}")
    if "const" in s and v != s["const"]:
        errors.append(f"{path}: expected {s['const']!r}, got {v!r}")
    if _TYPES["number"](v):
        if "minimum" in s and v < s["minimum"]:
            errors.append(f"{path}: expected >= {s['minimum']}, got {v}")
        if "maximum" in s and v > s["maximum"]:
            errors.append(f"{path}: expected <= {s['maximum']}, got {v}")
    if isinstance(v, str):
        if "minLength" in s and len(v) < s["minLength"]:
            errors.append(f"{path}: expected at least {s['minLength']} characters, got {len(v)}")
        if "pattern" in s and not re.search(s["pattern"], v):
            errors.append(f"{path}: expected to match {s['pattern']!r}, got {v!r}")
    if isinstance(v, dict):
        for key in s.get("required", []):
            if key not in v:
                errors.append(f"{path}: missing required property {key!r}")
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        for key, item in v.items():
            if key in props:
                _check(item, props[key], root, f"{path}.{key}", errors)
            elif extra is False:
                errors.append(f"{path}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, f"{path}.{key}", errors)
    if isinstance(v, list) and "items" in s:
        for i, item in enumerate(v):
            _check(item, s["items"], root, f"{path}[{i}]", errors)


def schema_text() -> str:
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"


def write_schema(path: str | Path) -> None:
    """Write ``SCHEMA`` to ``path`` (how docs/safety_card.schema.json is produced)."""
    from ..runs import write_text_atomic

    write_text_atomic(Path(path), schema_text())
