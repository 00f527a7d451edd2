"""Comparison: best value per row, overlaid curves, summary lines, from cards or report folders."""
from __future__ import annotations

import copy

import pytest

from nnsafety.report.compare import ROWS, best_indices, compare, compare_cards


def test_best_indices_reference():
    assert best_indices([0.5, 0.9, None, 0.9], "max") == [1, 3]
    assert best_indices([0.5, 0.9, None, 0.1], "min") == [3]
    assert best_indices([0.5, None], "max") == []  # a single value has nothing to beat
    assert best_indices([0.5, 0.7], None) == []


def _variant(card, name, clean, robust, corr, backdoor=None, target=None):
    c = copy.deepcopy(card)
    c["model"]["name"] = name
    c["headline"].update(clean_accuracy=clean, robust_accuracy=robust, mean_corruption_accuracy=corr,
                         backdoor_verdict=backdoor, suspected_target=target)
    return c


def _judge(card, finding_id, severity):
    for f in card["findings"]:
        if f["id"] == finding_id:
            f["severity"] = severity
    return card


def test_compare_cards_marks_best_per_row(full_audit):
    a = _variant(full_audit.card, "a", 0.95, 0.10, 0.80)
    b = _variant(full_audit.card, "b", 0.97, 0.40, 0.70, backdoor="fail", target=3)
    for card in (a, b):
        for fid in ("adversarial_robustness", "corruption_robustness", "curvature"):
            _judge(card, fid, "pass")
    comp = compare_cards([a, b])
    head = comp.tables[0]
    rows = {r[0]: (r, best) for r, best in zip(head.rows, head.best)}
    assert rows["clean accuracy"][1] == [2] and rows["clean accuracy"][0][1:] == ["95.0%", "97.0%"]
    assert rows["robust accuracy at ε (strongest attack)"][1] == [2]
    assert rows["mean corruption accuracy"][1] == [1]
    assert rows["Hessian λ_max"][1] == [1, 2]  # identical metrics: a tie marks both
    assert comp.summary[0].startswith("most robust to adversarial attacks: b (40.0%")
    assert comp.summary[1].startswith("most robust to corruptions: a (80.0%")
    assert "flagged as backdoored: b (suspected target class 3)" in comp.summary
    # one overlaid figure per curve the cards share
    assert {f.name for f in comp.figures} == {"robust_accuracy", "severity", "accuracy_gaussian", "reliability",
                                              "landscape_1d"}
    assert len(ROWS) >= 10


def test_no_star_on_a_value_whose_finding_warns_or_fails(full_audit):
    """Issue 17 item 4: ★ "best" went to the higher robust accuracy although its finding failed."""
    a = _judge(_variant(full_audit.card, "a", 0.95, 0.10, 0.80), "adversarial_robustness", "fail")
    b = _judge(_variant(full_audit.card, "b", 0.97, 0.20, 0.70), "adversarial_robustness", "warn")
    for card in (a, b):
        _judge(card, "corruption_robustness", "pass")
    comp = compare_cards([a, b])
    head = {r[0]: best for r, best in zip(comp.tables[0].rows, comp.tables[0].best)}
    assert head["robust accuracy at ε (strongest attack)"] == []  # b is higher, but it warns
    assert head["mean corruption accuracy"] == [1]
    _judge(b, "adversarial_robustness", "pass")
    head = {r[0]: best for r, best in zip(compare_cards([a, b]).tables[0].rows, compare_cards([a, b]).tables[0].best)}
    assert head["robust accuracy at ε (strongest attack)"] == [2]
    # findings table: ★ only on a passing cell, never on the "least bad" warn
    findings = compare_cards([a, _judge(copy.deepcopy(b), "adversarial_robustness", "warn")]).tables[1]
    row = next(i for i, r in enumerate(findings.rows) if r[0].startswith("attacks: Adversarial"))
    assert findings.rows[row][1:] == ["fail", "warn"] and findings.best[row] == []


def test_compare_from_report_folders_writes_html(full_audit, tmp_path):
    comp = compare([full_audit.out, full_audit], out=tmp_path)
    html = (tmp_path / "comparison.html").read_text()
    assert comp.names == ["tiny-mlp (1)", "tiny-mlp (2)"]
    assert html.count('class="best"') == sum(len(b) for t in comp.tables if t.best for b in t.best)
    assert html.count("data:image/png;base64,") == len(comp.figures) >= 4
    assert "<script" not in html
    with pytest.raises(ValueError, match="at least 2"):
        compare([full_audit])
