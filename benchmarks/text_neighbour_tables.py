"""docs/results.md, issue 19: TextFooler and synonym_swap under each synonym table, same model.

"before" = last session's TextFooler (spaCy md neighbours, no guard: clustered rows at cosine 1 and
antonyms included; words ranked by setting them to [UNK]); "minilm" = MiniLM's input embeddings,
WordNet antonyms and identical vectors removed (the default before counter-fitting); "after" = the
default now (``vocab_neighbours(source="auto", guard=True)``: with the extra nlp, MiniLM's input
embeddings counter-fitted to WordNet, ``data.counterfit``, with the same guard); "fallback" = the
default without the extra nlp (spaCy md neighbours that WordNet lists as synonyms); all but
"before" rank words by deleting them (the default now, as in the paper). First it prints each
table's candidates per word (k = 20, cosine ≥ 0.5: TextFooler's) and how many words have any.
Model: the ERM text_cnn of ``bench_textattack.py`` (``runs/bench_textattack_erm``). TextFooler on
the first 200 Fine Foods test reviews at 10/20/30 % of the words (k = 20, cosine ≥ 0.5); the 12
text corruptions on the first 300 (seed 0), synonym_swap with both tables (k = 8, cosine ≥ 0.6,
``evaluate_text_corruptions``' defaults). Counts how often a swap replaced a word by a WordNet
antonym of it.

    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_neighbour_tables.py
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from nnsafety.attacks.text import textfooler
from nnsafety.corruptions import evaluate_text_corruptions
from nnsafety.data import Vocab, load_dataset
from nnsafety.data.files_text import text_root
from nnsafety.data.synonyms import describe_neighbours, resolve_source, synonym_table, vocab_neighbours
from nnsafety.data.wordnet import load_lexicon
from nnsafety.runs import load_run


def antonym_swaps(x: torch.Tensor, res, vocab, antonyms) -> int:
    """Changed positions whose new word is a WordNet antonym of the original."""
    rows, cols = torch.nonzero(res.x_adv != x, as_tuple=True)
    return sum(antonyms.are_antonyms(vocab.tokens[int(x[r, c])], vocab.tokens[int(res.x_adv[r, c])])
               for r, c in zip(rows.tolist(), cols.tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="runs/bench_textattack_erm")
    ap.add_argument("--out", default="runs/text_neighbour_tables.json")
    args = ap.parse_args()
    model = load_run(args.run).model.eval()
    vocab = Vocab.load(Path(args.run) / "vocab.json")
    test = load_dataset("fine_foods", split="test")
    antonyms = load_lexicon(str(text_root(None) / "wordnet"))
    after = resolve_source("auto")
    # (source, guard, TextFooler's importance rule): "before" is last session's attack as it ran
    tables = {"before": ("spacy_md", False, "unk"), "minilm": ("minilm", True, "delete"), "after": (after, True, "delete"),
              "fallback": ("spacy_md", True, "delete")}
    out = {"attacks": [], "corruptions": {}, "candidates": {}}
    for name, (source, guard, _) in tables.items():
        nb, _ = vocab_neighbours(vocab.tokens, 20, 0.5, source=source, guard=guard)
        n = (nb >= 0).sum(1)
        out["candidates"][name] = {"neighbours": describe_neighbours(source, guard), "per_word": float(n.double().mean()),
                                   "words_with_any": int((n > 0).sum()), "vocabulary": len(vocab)}
        print(f"{name} ({describe_neighbours(source, guard)}): {float(n.double().mean()):.2f} candidates per word, "
              f"{int((n > 0).sum())} of {len(vocab)} words have any", flush=True)
    texts, y = list(test.texts[:200]), test.labels[:200]
    x = vocab.encode(texts)
    for name, (source, guard, importance) in tables.items():
        nb, _ = vocab_neighbours(vocab.tokens, 20, 0.5, source=source, guard=guard)
        for p in (0.1, 0.2, 0.3):
            c0 = time.process_time()
            res = textfooler(model, x, y, vocab, texts, max_change=p, neighbours=nb, importance=importance)
            cpu = time.process_time() - c0
            s = res.summary()
            row = {"table": name, "neighbours": describe_neighbours(source, guard), "importance": importance,
                   "max_change": p, **s,
                   "antonym_swaps": antonym_swaps(x, res, vocab, antonyms), "words_swapped": int(res.edits.sum()),
                   "cpu_s": cpu, "examples": [{"original": a, "adversarial": b} for a, b in res.examples(3)]}
            out["attacks"].append(row)
            print(f"| {name} ({row['neighbours']}, {importance}) | {p} | {100 * s['success_rate']:.1f}% | "
                  f"{100 * s['robust_accuracy']:.1f}% | {s['mean_words_changed']:.2f} | "
                  f"{100 * s['mean_fraction_changed']:.1f}% | {s['mean_queries']:.1f} | "
                  f"{row['antonym_swaps']} of {row['words_swapped']} | {cpu:.1f} |", flush=True)
    ds = test.subset(300)
    assert ds.vocab.tokens == vocab.tokens, "the run's vocabulary must be the dataset's"
    for name, (source, guard, _) in tables.items():
        ids, _ = vocab_neighbours(vocab.tokens, 8, 0.6, source=source, guard=guard)
        syn = synonym_table(vocab.tokens, ids)
        names = None if name == "after" else ["synonym_swap"]  # the other 11 do not use synonyms
        res = evaluate_text_corruptions(model, ds, names, seed=0, synonyms=syn)
        out["corruptions"][name] = {"synonyms": describe_neighbours(source, guard), **res.to_dict()}
        print(name, json.dumps({c: round(100 * v, 1) for c, v in res.mean_per_corruption.items()}), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
