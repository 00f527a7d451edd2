"""The text audit: ``nnsafety audit`` on a text run runs the text sections, validates, escapes."""
from __future__ import annotations

import json

import torch

from nnsafety.report import validate
from nnsafety.report.audit import list_sections


def test_text_sections_run_on_a_text_run_and_the_card_validates(text_audit):
    card = json.loads((text_audit / "safety_card.json").read_text())
    assert validate(card) == []
    assert card["data"]["domain"]["name"] == "token"
    assert card["audit"]["sections_run"] == list_sections("token") == [
        "accuracy", "text_corruptions", "text_attacks", "text_embedding_pgd", "text_noise_response", "hessian", "spectral", "text_backdoor"]
    assert {k: v["status"] for k, v in card["sections"].items()} == {k: "ok" for k in card["audit"]["sections_run"]}
    m = card["metrics"]
    assert card["headline"]["robust_accuracy"] == m["text_attacks"]["robust_accuracy"]
    assert card["headline"]["mean_corruption_accuracy"] == m["text_corruptions"]["mean_corruption_accuracy"]
    assert card["headline"]["clean_accuracy"] > 0.9  # the reviews are separable: the model learnt them
    for name, s in m["text_attacks"]["attacks"].items():
        assert 0 <= s["success_rate"] <= 1 and s["mean_fraction_changed"] <= 0.2 + 1e-9, name
        # success can only grow with the budget
        at = [s["success_at"][b] for b in sorted(s["success_at"], key=float)]
        assert at == sorted(at) and at[-1] == s["success_rate"], name
    # where the word candidates came from is recorded (the default: synonyms with antonyms removed)
    from nnsafety.data.synonyms import describe_neighbours, resolve_source

    expected = describe_neighbours(resolve_source("auto"), True) if "textfooler" in m["text_attacks"]["attacks"] \
        else "none (any word)"
    assert card["sections"]["text_attacks"]["config"]["neighbours"] == expected
    assert card["sections"]["text_corruptions"]["config"]["synonyms"] in (describe_neighbours(resolve_source("auto"), True),
                                                                          "none")


def test_embedding_pgd_curve_equals_a_direct_run_and_passes_its_checks(text_audit):
    """The section's curve against the attack called directly on the same texts, seed and steps."""
    from nnsafety import runs
    from nnsafety.attacks.embedding import embedding_pgd
    from nnsafety.data import Vocab, load_dataset
    from nnsafety.data.poison_text import encode_with
    from nnsafety.report.sections_text_pgd import EPS

    card = json.loads((text_audit / "safety_card.json").read_text())
    m = card["metrics"]["text_embedding_pgd"]
    assert m["eps"] == list(EPS) and all(c["passed"] for c in m["sanity"].values())
    acc = m["robust_accuracy"]
    assert acc[-1] < acc[0] and all(b <= a + 1.0 / m["n"] + 0.01 for a, b in zip(acc, acc[1:]))
    finding = [f for f in card["findings"] if f["section"] == "text_embedding_pgd"]
    assert [f["severity"] for f in finding] == ["info"]
    run = runs.load_run(text_audit.parent / "run")
    test = load_dataset("text_files", root=str(text_audit.parent / "texts"), split="test")
    test = encode_with(test, Vocab.load(text_audit.parent / "run" / "vocab.json"))
    x, y = test.tensors()
    assert m["n"] == len(y)  # the tiny test split is audited whole
    for eps, a in zip(EPS, acc):
        if eps == 0:
            continue
        g = torch.Generator().manual_seed(0)  # the audit's seed, one generator per ε
        delta = embedding_pgd(run.model, x, y, eps=eps, steps=m["steps"], generator=g)
        with torch.no_grad():
            direct = (run.model.forward_embeddings(run.model.embed(x) + delta, x != 0).argmax(1) == y).double().mean()
        assert abs(float(direct) - a) < 1e-9, eps


def test_hostile_review_strings_are_escaped_in_the_report(text_audit):
    html = (text_audit / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<b>bold" not in html
    escaped = ("&lt;script&gt;alert(&#34;pwn&#34;)&lt;/script&gt; it&#39;s &#34;quoted&#34; &amp; "
               "&lt;b&gt;bold&lt;/b&gt;")
    shown = html.count(escaped)
    card = json.loads((text_audit / "safety_card.json").read_text())
    attacks = card["metrics"]["text_attacks"]["attacks"].values()
    n_examples = sum(min(5, round(s["success_rate"] * s["attacked"])) for s in attacks)
    assert n_examples >= 1  # something to show: the model is not robust to word swaps
    assert shown == 2 * n_examples  # original and adversarial text of each example, escaped


def test_success_at_a_smaller_budget_equals_a_run_at_that_budget(bag_of_words):
    """``_success_at`` reads a smaller budget off one greedy run; the reference is the run at that budget."""
    from nnsafety.attacks.text import deepwordbug
    from nnsafety.data.vocab import Vocab
    from nnsafety.report.sections_text import _success_at

    texts = [" ".join(["good"] * k + ["fine"] * (12 - k)) for k in range(1, 9)] * 2
    vocab = Vocab.build(texts + ["god", "bad"], max_len=12, min_freq=1)
    w = torch.zeros(len(vocab))
    w[vocab.tokens.index("good")], w[vocab.tokens.index("fine")] = 1.0, -0.05
    model = bag_of_words(w.tolist())
    x = vocab.encode(texts)
    y = model(x).argmax(1)
    big = deepwordbug(model, x, y, vocab=vocab, texts=texts, max_change=0.5, keep_stop_words=False)
    for b in (0.1, 0.2, 0.34):
        small = deepwordbug(model, x, y, vocab=vocab, texts=texts, max_change=b, keep_stop_words=False)
        assert _success_at(big, b) == small.summary()["success_rate"]
    assert 0 < _success_at(big, 0.2) < _success_at(big, 0.5) <= 1
