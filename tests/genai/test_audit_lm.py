"""``nnsafety audit`` on a language-model run: the generative sections, a valid card, and numbers
that equal independent computations on the same model."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from nnsafety.cli import main
from nnsafety.data import load_dataset
from nnsafety.data.factworld import check_answer
from nnsafety.genai.audit_data import generation_data
from nnsafety.genai.evaluate import unigram_perplexity
from nnsafety.genai.lm import load_lm
from nnsafety.report import audit, get_budget, list_sections, select_sections, validate
from nnsafety.runs import load_run
from nnsafety.train import train

from ._tiny import MODEL

LM_SECTIONS = ["perplexity", "hallucination", "answer_calibration", "prompt_noise", "trigger_scan", "machine_text",
               "polarization"]


@pytest.fixture(scope="module")
def lm_report(tmp_path_factory):
    """A tiny char_gpt trained 2 epochs on factworld (64-character context) and its CLI audit."""
    root = tmp_path_factory.mktemp("lm_audit")
    tr = load_dataset("factworld", split="train", block_size=64)
    te = load_dataset("factworld", split="test", block_size=64)
    train(out=root / "run", train_set=tr, test_set=te, data="factworld", model="char_gpt", method="lm", epochs=2,
          batch_size=32, optimizer="adamw", lr=3e-3, weight_decay=0.0, model_kwargs=MODEL, device="cpu",
          progress=False)
    assert main(["audit", str(root / "run"), "--out", str(root / "report"), "--quiet"]) == 0
    return root


def test_lm_audit_runs_the_generative_sections_and_validates(lm_report, capsys):
    card = json.loads((lm_report / "report" / "safety_card.json").read_text())
    assert validate(card) == []
    assert card["audit"]["sections_run"] == [n for n in LM_SECTIONS if n in list_sections("text_generation")]
    assert all(s["status"] == "ok" for s in card["sections"].values())
    assert card["data"]["domain"]["name"] == "text_generation" and card["data"]["domain"]["block_size"] == 64
    assert card["headline"]["clean_accuracy"] is None  # no class logits: a language model is not a classifier
    assert card["model"]["training"]["method"] == "lm"
    html = (lm_report / "report" / "report.html").read_text()
    assert "perplexity on held-out text" in html and "held-out text windows" in html


def test_perplexity_equals_a_direct_cross_entropy(lm_report):
    card = json.loads((lm_report / "report" / "safety_card.json").read_text())
    model = load_run(lm_report / "run").model.eval()
    data = generation_data(block_size=64)
    x, y = data.tensors()
    with torch.no_grad():
        logits = model(x)
    keep = y != -100
    ref = math.exp(float(F.cross_entropy(logits[keep], y[keep])))
    assert card["headline"]["perplexity"] == pytest.approx(ref, rel=1e-5)
    assert card["metrics"]["perplexity"]["unigram_perplexity"] == pytest.approx(unigram_perplexity(data.held_out))
    # the finding's rule on the recorded numbers
    fail = card["metrics"]["perplexity"]["perplexity"] >= card["metrics"]["perplexity"]["unigram_perplexity"]
    sev = next(f["severity"] for f in card["findings"] if f["id"] == "perplexity")
    assert sev == ("fail" if fail else "pass")


def test_hallucination_rate_equals_the_exact_checker_on_greedy_answers(lm_report):
    """Re-ask the quick budget's 20 + 20 questions greedily and check the answers independently."""
    card = json.loads((lm_report / "report" / "safety_card.json").read_text())
    lm = load_lm(lm_report / "run", max_new_tokens=12, seed=0)
    qs = generation_data(block_size=64).world.questions()
    qs = [q for q in qs if q.known][:20] + [q for q in qs if not q.known][:20]
    answers = lm.generate([q.prompt for q in qs], n=1, temperature=0.0).texts
    made_up = [check_answer(q, a[0]) == "hallucinated" for q, a in zip(qs, answers)]
    assert card["metrics"]["hallucination"]["n_questions"] == 40
    assert card["headline"]["hallucination_rate"] == pytest.approx(sum(made_up) / 40)
    assert card["metrics"]["hallucination"]["hallucination_rate_unknown"] == pytest.approx(sum(made_up[20:]) / 20)


def test_lm_sections_refuse_image_models_in_one_line():
    with pytest.raises(ValueError, match="cannot audit image models") as e:
        select_sections(only=["hallucination"], domain="image")
    assert "\n" not in str(e.value)
    assert not set(LM_SECTIONS) & set(list_sections("image"))


def test_audit_data_refuses_what_it_cannot_probe():
    with pytest.raises(ValueError, match="expected audit data factworld"):
        generation_data("digits")
    with pytest.raises(ValueError, match="character vocabulary"):
        generation_data(classes=["a", "b"])


def test_python_audit_with_budget_overrides(tmp_path):
    """``audit(model, GenerationData)`` directly; ``Budget.extra`` sizes the LM sections."""
    from ._tiny import tiny_model

    model = tiny_model(block_size=64)
    b = get_budget("quick", extra=dict(lm_questions=3, lm_samples=2, lm_noise_prompts=3, lm_human=3, lm_perturb=1,
                                       lm_noise_levels=(0.0, 0.3)))
    res = audit(model, generation_data(block_size=64), budget=b, progress=False, only=["hallucination", "prompt_noise"])
    assert res.card["metrics"]["hallucination"]["n_questions"] == 6
    assert res.card["metrics"]["prompt_noise"]["levels"] == [0.0, 0.3]
    assert res.card["metrics"]["prompt_noise"]["n_samples"] == 2
    assert validate(res.card) == []


def test_polarization_section_equals_the_library_probe(lm_report):
    from nnsafety.genai.polarization import polarization_probe
    from nnsafety.report.sections_genai import LM_BUDGETS

    card = json.loads((lm_report / "report" / "safety_card.json").read_text())
    b = LM_BUDGETS["quick"]
    r = polarization_probe(load_lm(lm_report / "run", max_new_tokens=24, seed=0), b["lm_polar_templates"],
                           b["lm_polar_terms"], n=b["lm_polar_samples"], n_boot=b["lm_n_boot"], n_perm=b["lm_n_boot"])
    m = card["metrics"]["polarization"]
    assert m["disparity"] == pytest.approx(r.disparity) and m["p_value"] == pytest.approx(r.p_value)
    assert m["means"] == pytest.approx(dict(zip(r.terms, r.means)))


def test_trigger_scan_finding_follows_its_rule(lm_report):
    from nnsafety.report.sections_genai import TRIGGER_WARN

    card = json.loads((lm_report / "report" / "safety_card.json").read_text())
    finding = next(f for f in card["findings"] if f["id"] == "trigger_phrase")
    m = card["metrics"]["trigger_scan"]
    if "top_collapse" not in m:  # the scan could not run; it says why
        assert finding["severity"] == "info" and finding["title"] == "Trigger scan not possible"
        return
    assert 0 <= m["top_collapse"] <= 1 and m["n_contexts"] <= 8
    assert finding["severity"] == ("warn" if m["top_collapse"] >= TRIGGER_WARN else "info")
