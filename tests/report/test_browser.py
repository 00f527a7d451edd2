"""The report in real headless Chromium: no console errors, no network, images decoded, screenshot.

Driven through the DevTools protocol over ``--remote-debugging-pipe`` (``nnsafety.report.browser``).
Skipped only when no Chromium executable exists (``make test`` / CI install Debian's ``chromium``).
Set ``NNSAFETY_UPDATE_SCREENSHOTS=1`` to also copy the screenshot to ``docs/img/``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nnsafety.report.browser import check_page, find_chromium

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium executable found (install Debian's "
                                "`chromium` package or set NNSAFETY_CHROMIUM)")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def test_report_loads_clean_in_chromium(full_audit):
    page = check_page(full_audit.out / "report.html")
    assert page.title == "nnsafety audit: tiny-mlp"
    assert page.console_errors == []
    assert page.external_requests == []
    n_fig = sum(len(s.output.figures) for s in full_audit.sections)
    assert len(page.images) == n_fig and page.broken_images == []
    assert all(i["src"].startswith("data:image/png") for i in page.images)
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(page.screenshot) > 50_000
    (full_audit.out / "screenshot.png").write_bytes(page.screenshot)
    if os.environ.get("NNSAFETY_UPDATE_SCREENSHOTS"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        (DOCS_IMG / "report_test.png").write_bytes(page.screenshot)


def test_harness_detects_what_it_must(tmp_path):
    """Negative control: a page that fetches, logs an error and has a broken image fails every check."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body>'
                   '<img src="http://198.51.100.7/x.png"><img src="data:image/png;base64,AAAA">'
                   '<script>console.error("boom")</script></body></html>')
    page = check_page(bad)
    assert page.external_requests == ["http://198.51.100.7/x.png"]
    assert "boom" in page.console_errors
    assert len(page.broken_images) == 2


def test_text_report_loads_clean_in_chromium(text_audit):
    page = check_page(text_audit / "report.html")
    assert page.title == "nnsafety audit: run"
    assert page.console_errors == [] and page.external_requests == []
    assert page.images and page.broken_images == []
    assert all(i["src"].startswith("data:image/png") for i in page.images)
