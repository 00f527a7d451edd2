"""Render the audit and comparison reports: one self-contained HTML file each.

jinja2 with autoescape on for every template (so a model called ``<script>`` is shown, not run),
CSS inlined from ``templates/_style.css``, figures inlined as base64 PNG ``data:`` URIs. A
Content-Security-Policy meta tag forbids every load that is not inline (no script at all, images
only from ``data:``), so even a browser that tried could not fetch anything from the network.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict, Optional

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
TEMPLATES = Path(__file__).parent / "templates"

_VERDICT_TEXT = {
    "pass": "No finding asks for action at the thresholds used; read the sections for the full picture.",
    "warn": "Some findings deserve a look before deployment (orange below); none is a hard failure.",
    "fail": "At least one finding fails (red below): do not deploy this model without addressing it.",
}


def _pct(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    return env


def _findings_sorted(findings):
    order = {"fail": 0, "warn": 1, "pass": 2, "info": 3}
    return sorted(findings, key=lambda f: order[f["severity"]])


def render_report(result) -> str:
    """The HTML of one audit (``AuditResult``)."""
    from .base import section_badge

    card = result.card
    badges = {s.name: section_badge(s.status, s.output.findings) for s in result.sections}
    return environment().get_template("report.html.j2").render(
        card=card, h=card["headline"], sections=result.sections, findings=_findings_sorted(card["findings"]),
        badges=badges,
        verdict_text=_VERDICT_TEXT[card["verdict"]], csp=CSP)


def render_compare(comparison: Dict[str, Any]) -> str:
    """The HTML of a comparison (the dict built by ``compare.compare_cards``)."""
    return environment().get_template("compare.html.j2").render(csp=CSP, **comparison)
