"""The audit: run every safety measurement on a model and write a report (HTML) and a safety card (JSON).

``audit(model, dataset, out=DIR)`` on any ``nn.Module``; ``audit_run(RUN_DIR, out=DIR)`` on a run
directory; ``compare(...)`` puts several audits side by side. Sections are registered units
(``SECTIONS``), the work per section is set by a budget preset (``quick``/``standard``/``thorough``).
"""
from .base import SECTIONS, AuditContext, Figure, Finding, SectionOutput, SectionResult, Table, register_section
from .budget import PRESETS, Budget, get_budget
from .audit import AuditResult, audit, audit_run, list_sections, select_sections
from .schema import SCHEMA, validate

__all__ = [
    "SECTIONS", "AuditContext", "Figure", "Finding", "SectionOutput", "SectionResult", "Table",
    "register_section", "PRESETS", "Budget", "get_budget", "AuditResult", "audit", "audit_run",
    "list_sections", "select_sections", "SCHEMA", "validate",
]
