"""The audit pipeline: numbers against independent references, sections, errors, atomic writes."""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save

from nnsafety.report import SECTIONS, audit, list_sections, validate


def _reference_accuracy_ece(model, x, y, n_bins=15):
    """Slow, obvious NumPy: accuracy and ECE with right-closed equal-width bins."""
    with torch.no_grad():
        p = model(x).softmax(1).double().numpy()
    conf, pred, yy = p.max(1), p.argmax(1), y.numpy()
    ece = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        m = [(lo < c <= hi) or (b == 0 and c == 0) for c in conf]
        m = np.array(m)
        if m.any():
            ece += m.sum() / len(conf) * abs((pred[m] == yy[m]).mean() - conf[m].mean())
    return float((pred == yy).mean()), ece


def test_every_section_runs_and_card_validates(full_audit):
    assert [s.name for s in full_audit.sections] == list_sections("image")  # an image audit: the image sections
    assert all(s.status == "ok" for s in full_audit.sections), [(s.name, s.error) for s in full_audit.sections]
    assert validate(full_audit.card) == []
    # every section records its configuration and at least one finding
    for s in full_audit.sections:
        assert s.config, s.name
        assert full_audit.card["sections"][s.name]["config"] == json.loads(json.dumps(s.config))
        assert any(f["section"] == s.name for f in full_audit.card["findings"]), s.name


def test_headline_numbers_match_independent_reference(full_audit, mlp, test_set):
    x, y = test_set.tensors()
    acc, ece = _reference_accuracy_ece(mlp, x, y)
    h = full_audit.card["headline"]
    assert h["clean_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert h["ece"] == pytest.approx(ece, abs=1e-6)
    assert 0.0 <= h["robust_accuracy"] <= h["clean_accuracy"] + 1e-9
    assert h["mean_corruption_accuracy"] == pytest.approx(
        np.mean([v for row in full_audit.section("corruptions").output.tables[0].rows[:-1]
                 for v in map(float, row[1:-1])]) / 100, abs=1e-3)


def test_model_identity(full_audit, mlp):
    m = full_audit.card["model"]
    assert m["parameters"] == sum(p.numel() for p in mlp.parameters())
    state = {k: t.detach().contiguous().clone() for k, t in mlp.state_dict().items()}
    assert m["weights_sha256"] == hashlib.sha256(save(state)).hexdigest()
    assert m["name"] == "tiny-mlp" and m["source"] == "python"
    assert full_audit.card["seeds"]["audit"] == 0
    assert set(full_audit.card["versions"]) >= {"nnsafety", "torch", "python"}


def test_verdict_is_worst_finding(full_audit):
    sev = [f["severity"] for f in full_audit.card["findings"]]
    expected = "fail" if "fail" in sev else ("warn" if "warn" in sev else "pass")
    assert full_audit.verdict == expected


def test_files_written(full_audit):
    out = full_audit.out
    assert json.loads((out / "safety_card.json").read_text()) == full_audit.card
    html = (out / "report.html").read_text()
    n_fig = sum(len(s.output.figures) for s in full_audit.sections)
    assert len(list((out / "figures").glob("*.png"))) == n_fig >= 8
    assert html.count('src="data:image/png;base64,') == n_fig
    # self-contained: nothing that a browser would fetch
    assert "http://" not in html.replace('"https://json-schema.org', "") and "https://" not in html
    assert "<script" not in html and "<link" not in html
    # summary first: the verdict and the three numbers come before the first section
    assert html.index("clean accuracy") < html.index('id="accuracy"')
    assert html.index("mean corruption accuracy") < html.index('id="accuracy"')


def test_user_module_and_escaping(tmp_path, test_set):
    """Any nn.Module (not a registered Classifier) works; every user string is HTML-escaped."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x, y = test_set.tensors()
    evil = "<script>alert('x')</script>"
    import nnsafety

    res = nnsafety.audit(model, (x[:80], y[:80]), out=tmp_path, only=["accuracy", "spectral"], name=evil,
                         classes=[f"<b>{i}</b>" for i in range(10)], progress=False)
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;3&lt;/b&gt;" in html
    assert res.card["model"]["name"] == evil and res.card["audit"]["sections_run"] == ["accuracy", "spectral"]
    assert validate(res.card) == []


def test_skip_only_and_unknown_names(full_audit, mlp, test_set, tiny_budget):
    with pytest.raises(ValueError, match="unknown section.*expected some of: accuracy"):
        audit(mlp, test_set, only=["acuracy"], progress=False)
    with pytest.raises(ValueError, match="at least one section"):
        audit(mlp, test_set, only=["accuracy"], skip=["accuracy"], progress=False)
    res = audit(mlp, test_set, budget=tiny_budget, skip=[n for n in list_sections("image") if n not in ("accuracy", "attacks")],
                progress=False)
    assert res.card["audit"]["sections_run"] == ["accuracy", "attacks"]
    assert res.card["headline"]["mean_corruption_accuracy"] is None
    assert res.card["headline"]["robust_accuracy"] == full_audit.card["headline"]["robust_accuracy"]  # same seed
    assert validate(res.card) == []


def test_failing_section_is_recorded_and_others_run(monkeypatch, mlp, test_set, tiny_budget, tmp_path):
    def boom(ctx):
        raise RuntimeError("spectral exploded <here>")

    monkeypatch.setattr(SECTIONS.get("spectral"), "run", boom)
    res = audit(mlp, test_set, budget=tiny_budget, only=["accuracy", "spectral", "boundary"], out=tmp_path,
                progress=False)
    status = {s.name: s.status for s in res.sections}
    assert status == {"accuracy": "ok", "spectral": "error", "boundary": "ok"}
    assert res.card["sections"]["spectral"]["error"] == "RuntimeError: spectral exploded <here>"
    assert "spectral" not in res.card["metrics"] and res.verdict in ("warn", "fail")
    assert any(f["id"] == "section_error" and f["section"] == "spectral" for f in res.card["findings"])
    html = (tmp_path / "report.html").read_text()
    assert "This section failed: RuntimeError: spectral exploded &lt;here&gt;" in html
    assert validate(res.card) == []


def test_backdoor_section_guarded_when_detectors_missing(monkeypatch, mlp, test_set, tiny_budget):
    monkeypatch.setitem(sys.modules, "nnsafety.backdoor.detectors", None)  # import now raises ImportError
    monkeypatch.setitem(sys.modules, "nnsafety.backdoor.scan", None)
    res = audit(mlp, test_set, budget=tiny_budget, only=["accuracy", "backdoor"], progress=False)
    bd = res.section("backdoor")
    assert bd.status == "error" and "backdoor detectors are not available" in bd.error
    assert res.section("accuracy").status == "ok"
    assert res.card["headline"]["backdoor_verdict"] is None


def test_interrupt_leaves_previous_report_untouched(monkeypatch, mlp, test_set, tiny_budget, tmp_path):
    audit(mlp, test_set, budget=tiny_budget, only=["accuracy"], out=tmp_path, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def interrupted(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(SECTIONS.get("spectral"), "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        audit(mlp, test_set, budget=tiny_budget, only=["accuracy", "spectral"], out=tmp_path, progress=False)
    after = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # no temp files, nothing half-written
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        audit(mlp, test_set, budget=tiny_budget, only=["accuracy", "spectral"], out=fresh, progress=False)
    assert not fresh.exists()


def test_bad_inputs(mlp, test_set):
    with pytest.raises(ValueError, match="expected an nn.Module"):
        audit("cnn", test_set)
    with pytest.raises(ValueError, match="expected eps in"):
        audit(mlp, test_set, eps=2.0)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        audit(mlp, (torch.full((4, 1, 8, 8), 3.0), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="expected budget one of quick, standard, thorough"):
        audit(mlp, test_set, budget="fast")


class _Scaled(torch.nn.Module):
    """The tiny mlp with its logits multiplied by ``s``: same predictions, different confidence."""

    def __init__(self, model, s):
        super().__init__()
        self.model, self.s = model, s

    def forward(self, x):
        return self.model(x) * self.s


@pytest.mark.parametrize("scale", [0.05, 1.0])
def test_calibration_finding_uses_cross_fitted_temperature_scaling(mlp, test_set, tiny_budget, scale):
    """An underconfident copy (logits × 0.05) fails on raw ECE but one temperature repairs it: the
    finding is downgraded to warn and says so; the metrics carry T and the scaled ECE."""
    from nnsafety.metrics import evaluate

    model = _Scaled(mlp, scale)
    res = audit(model, test_set, budget=tiny_budget, only=["accuracy"], progress=False)
    ref = evaluate(model, test_set)
    (finding,) = [f for f in res.findings if f["id"] == "calibration"]
    metrics = res.card["metrics"]["accuracy"]
    assert metrics["ece"] == pytest.approx(ref.ece) and metrics["temperature"] == pytest.approx(ref.temperature)
    if scale < 1:
        assert ref.ece > 0.15 and ref.ece_scaled <= 0.05 and ref.temperature < 0.2
        assert finding["severity"] == "warn" and "fixable" in finding["reason"]
    else:
        assert finding["severity"] == ("pass" if ref.ece <= 0.05 else "warn")


def test_backdoor_section_is_the_calibrated_scan(mlp, test_set, tiny_budget):
    """The section's verdict, score, threshold and FPR are ``scan``'s on the same model, budget and
    clean samples (checked against scan called directly); the finding and the card state the FPR."""
    from nnsafety.backdoor.scan import scan
    from nnsafety.report.card import headline_lines

    res = audit(mlp, test_set, budget=tiny_budget, only=["backdoor"], progress=False)
    x, y = test_set.tensors()
    ref = scan(mlp, (1, 8, 8), 10, data=(x[:40], y[:40]), budget="quick", seed=0)
    m = res.card["metrics"]["backdoor"]
    assert m["score"] == pytest.approx(ref.score) and m["threshold"] == ref.threshold and m["fpr"] == ref.fpr
    assert m["verdict"] == ref.verdict and m["reference"] == "digits_recipes"
    (finding,) = [f for f in res.findings if f["section"] == "backdoor"]
    assert finding["severity"] == ("fail" if ref.backdoored else "pass")
    assert f"{100 * ref.fpr:.1f} %" in finding["reason"]
    assert any(f"flags {100 * ref.fpr:.1f}% of clean models" in line for line in headline_lines(res.card))
    assert validate(res.card) == []

def test_backdoor_section_adds_a_noise_meta_row_without_changing_the_verdict(mlp, test_set, tiny_budget):
    from nnsafety.backdoor.detectors import DetectionContext, create_detector, load_meta
    from nnsafety.report import get_budget

    plain = audit(mlp, test_set, budget=tiny_budget, only=["backdoor"], progress=False)
    budget = get_budget(tiny_budget, noise_meta="digits")
    res = audit(mlp, test_set, budget=budget, only=["backdoor"], progress=False)
    ref = create_detector("noise_response", meta=load_meta("digits")).detect(mlp, DetectionContext((1, 8, 8), 10))
    rows = res.section("backdoor").output.tables[1].rows
    assert rows[-1][0] == "noise_response (reference digits, probability)" and rows[-1][1] == f"{ref.score:.2f}"
    assert res.card["metrics"]["backdoor"]["score"] == plain.card["metrics"]["backdoor"]["score"]
    broken = audit(mlp, test_set, budget=get_budget(budget, noise_meta="no-such"), only=["backdoor"], progress=False)
    assert broken.section("backdoor").status == "ok"
    assert broken.section("backdoor").output.tables[1].rows[-1][1].startswith("error: expected a meta-classifier")


def test_info_findings_never_change_the_verdict_and_badges_follow_findings():
    """Issue 17 item 4: the spectral (α > 6) and margin (< ε·√D) rules fired on all 6 clean digits
    models checked (4 trainer recipes, 2 hand-trained), so they inform instead of warning; a section
    badge shows its worst finding, never a green "ok" beside a failing one."""
    from nnsafety.report.base import Finding, section_badge, worst

    assert worst(["info", "pass", "info"]) == "pass" and worst(["info"]) == "pass"
    assert worst(["info", "warn", "pass"]) == "warn" and worst(["fail", "info"]) == "fail"
    fail = Finding("backdoor", "backdoor", "fail", "Backdoor", "x")
    ok = Finding("accuracy", "calibration", "pass", "Calibration", "x")
    info = Finding("spectral", "layer_spectra", "info", "Layer spectra", "x")
    assert section_badge("ok", [ok, fail]) == "fail"
    assert section_badge("ok", [info]) == "info" and section_badge("ok", [info, ok]) == "pass"
    assert section_badge("error", [ok]) == "error" and section_badge("ok", []) == "pass"


def test_spectral_and_margin_findings_are_informational(tmp_path):
    import torch
    from torch import nn

    from nnsafety.report import audit

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    x, y = torch.rand(40, 1, 8, 8), torch.arange(40) % 10
    r = audit(model, (x, y), only=["boundary", "spectral"], out=tmp_path / "rep", progress=False)
    sev = {f["id"]: f["severity"] for f in r.card["findings"]}
    assert sev == {"margin": "info", "layer_spectra": "info"} and r.verdict == "pass"
    assert "informational" in next(f["reason"] for f in r.card["findings"] if f["id"] == "margin")
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'class="badge ok"' not in html and 'class="badge info"' in html
    assert "[info]" not in r.summary()


def test_one_clean_accuracy_per_report_and_subsets_say_what_they_are():
    """Issue 17 item 5: one badnets report showed four clean accuracies, and `--only attacks` put the
    150-image subset's 99.3 % in the headline of a 98.7 % model."""
    import torch
    from torch import nn

    from nnsafety.report import audit, get_budget

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(60, 1, 8, 8, generator=g), torch.randint(0, 10, (60,), generator=g)
    with torch.no_grad():
        y[:30] = model(x[:30]).argmax(1)  # about half right, unevenly spread: subsets differ from the whole
    everything = (model(x).argmax(1) == y).float().mean().item()
    b = get_budget("quick", n_attack=20, eps_list=(0.1,), n_corruption=25, corruptions=["fog"], severities=(1,))
    only = audit(model, (x, y), budget=b, only=["attacks"], progress=False)
    assert only.card["headline"]["clean_accuracy"] == pytest.approx(everything)
    attack_clean = only.card["metrics"]["attacks"]["clean_accuracy"]
    reason = next(f["reason"] for f in only.card["findings"] if f["id"] == "adversarial_robustness")
    assert f"{100 * attack_clean:.1f}% on the same 20 of 60 audit images (a seeded subset)" in reason
    both = audit(model, (x, y), budget=b, only=["accuracy", "corruptions"], progress=False)
    assert both.card["headline"]["clean_accuracy"] == pytest.approx(both.card["metrics"]["accuracy"]["accuracy"])
    reason = next(f["reason"] for f in both.card["findings"] if f["id"] == "corruption_robustness")
    assert "on the same 25 of 60 audit images (the first)" in reason
    assert "on all 60 audit images" in next(f["reason"] for f in both.card["findings"] if f["id"] == "calibration")
