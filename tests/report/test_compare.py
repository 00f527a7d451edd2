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


def test_compare_cards_marks_best_per_row(full_audit):
    a = _variant(full_audit.card, "a", 0.95, 0.10, 0.80)
    b = _variant(full_audit.card, "b", 0.97, 0.40, 0.70, backdoor="fail", target=3)
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


def test_compare_from_report_folders_writes_html(full_audit, tmp_path):
    comp = compare([full_audit.out, full_audit], out=tmp_path)
    html = (tmp_path / "comparison.html").read_text()
    assert comp.names == ["tiny-mlp (1)", "tiny-mlp (2)"]
    assert html.count('class="best"') == sum(len(b) for t in comp.tables if t.best for b in t.best)
    assert html.count("data:image/png;base64,") == len(comp.figures) >= 4
    assert "<script" not in html
    with pytest.raises(ValueError, match="at least 2"):
        compare([full_audit])
