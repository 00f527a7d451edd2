"""docs/results.md, issue 19: the word- and character-level attack table (textfooler, deepwordbug,
hotflip at 10/20/30 % of the words) with today's defaults, as ``nnsafety attack RUN --attack A
--max-change p -n 200`` runs them (the attack registry, each attack's own defaults: TextFooler's
neighbours ``vocab_neighbours(source="auto", guard=True)``: MiniLM counter-fitted to WordNet with the
extra nlp, recorded per row from ``params["neighbours"]``, deletion importance, k = 20, cosine ≥ 0.5).

Model: the 128-d ERM ``text_cnn`` (3/4/5 × 100 maps) of the table, retrained by the command in the
docs into ``--run``. Rows are cached in ``--out`` (a stopped run resumes where it stopped). Also
counts TextFooler's swaps to a WordNet antonym of the word it replaced, and runs TextFooler twice
more per budget on the same model: with the table's old settings ("textfooler, before settings":
spaCy md neighbours without the guard, words ranked by setting them to [UNK]) and with the previous
default ("textfooler, MiniLM not counter-fitted": MiniLM's own input embeddings, antonym guard), so
that the change of candidates and the change of model can be told apart. "Opposite AFINN" counts
swaps between two words of opposite sign in the AFINN-165 sentiment lexicon (``afinn``, the dev
extra), a check of the candidates independent of WordNet. ``--sample N`` then prints N random
substitutions (``--sample-seed``, default 0) of each TextFooler row named by ``--sample-row``
(default the default TextFooler) at 20 % with their context, to be read by eye; ``--start`` and
``-n`` choose the reviews ``[start, start + n)`` of the test split, ``--no-table`` prints the sample
only (a fresh sample on other reviews needs no table).

    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/text_attack_table.py \\
        --run runs/t19_erm128
    # 40 fresh substitutions per table from reviews 200-399 (seed 1), read by eye in docs/results.md
    ... text_attack_table.py --run runs/t19_erm128 --start 200 --no-table --sample 40 --sample-seed 1 \\
        --sample-row textfooler "textfooler, MiniLM not counter-fitted"
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from nnsafety.attacks import get_attack
from nnsafety.data import Vocab, load_dataset
from nnsafety.data.files_text import text_root
from nnsafety.data.wordnet import load_lexicon
from nnsafety.genai.polarization import afinn_lexicon
from nnsafety.runs import load_run, write_json_atomic
from text_neighbour_tables import antonym_swaps  # benchmarks/ is the script's folder, first on sys.path


# row name: (registered attack, its kwargs); {} = the attack's defaults, as the CLI runs it
ATTACKS = {"textfooler": ("textfooler", {}), "deepwordbug": ("deepwordbug", {}), "hotflip": ("hotflip", {}),
           "textfooler, before settings": ("textfooler", {"neighbour_source": "spacy_md", "antonym_guard": False,
                                                          "importance": "unk"}),
           "textfooler, MiniLM not counter-fitted": ("textfooler", {"neighbour_source": "minilm"})}


def afinn_flips(x: torch.Tensor, res, vocab) -> int:
    """Changed positions whose old and new word have AFINN valences of opposite sign."""
    val = afinn_lexicon()
    rows, cols = torch.nonzero(res.x_adv != x, as_tuple=True)
    return sum(val.get(vocab.tokens[int(x[r, c])], 0) * val.get(vocab.tokens[int(res.x_adv[r, c])], 0) < 0
               for r, c in zip(rows.tolist(), cols.tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="runs/t19_erm128")
    ap.add_argument("--out", default="runs/text_attack_table.json")
    ap.add_argument("-n", type=int, default=200, help="n test reviews from --start")
    ap.add_argument("--start", type=int, default=0, help="first test review")
    ap.add_argument("--no-table", action="store_true", help="only the --sample substitutions")
    ap.add_argument("--sample", type=int, default=0, help="print this many random substitutions of each row at 0.2")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--sample-row", nargs="+", default=["textfooler"],
                    choices=[a for a in ATTACKS if a.startswith("textfooler")])
    args = ap.parse_args()
    torch.manual_seed(0)
    model = load_run(args.run).model.eval()
    vocab = Vocab.load(Path(args.run) / "vocab.json")
    test = load_dataset("fine_foods", split="test")
    if not 0 <= args.start < len(test.texts) or args.n < 1:
        raise SystemExit(f"expected --start in [0, {len(test.texts)}) and -n >= 1, got {args.start} and {args.n}")
    texts, y = list(test.texts[args.start: args.start + args.n]), test.labels[args.start: args.start + args.n]
    x = vocab.encode(texts)
    antonyms = load_lexicon(str(text_root(None) / "wordnet"))
    out_path = Path(args.out)
    rows = json.loads(out_path.read_text()) if out_path.is_file() else []
    done = {(r["attack"], r["max_change"]) for r in rows}
    print("| attack | max change | success | robust acc. | words changed | % of words | queries / review | "
          "queries / CPU s | CPU s | swaps to a WordNet antonym | swaps to opposite AFINN |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in () if args.no_table else (0.1, 0.2, 0.3):
        for name in ATTACKS:
            if (name, p) not in done:
                c0 = time.process_time()
                attack, kw = ATTACKS[name]
                res = get_attack(attack, max_change=p, **kw).run(model, x, y, vocab=vocab, texts=texts)
                cpu = time.process_time() - c0
                rows.append({"attack": name, "max_change": p, "params": res.params, **res.summary(),
                             "total_queries": int(res.queries.sum()), "cpu_s": cpu,
                             "antonym_swaps": antonym_swaps(x, res, vocab, antonyms),
                             "afinn_flips": afinn_flips(x, res, vocab),
                             "words_swapped": int(res.edits.sum()),
                             "examples": [{"original": a, "adversarial": b} for a, b in res.examples(3)]})
                write_json_atomic(out_path, rows)
            r = next(r for r in rows if (r["attack"], r["max_change"]) == (name, p))
            print(f"| {name} | {p} | {100 * r['success_rate']:.1f}% | {100 * r['robust_accuracy']:.1f}% | "
                  f"{r['mean_words_changed']:.2f} | {100 * r['mean_fraction_changed']:.1f}% | "
                  f"{r['mean_queries']:.1f} | "
                  f"{r['total_queries'] / max(r['cpu_s'], 1e-9):.0f} | {r['cpu_s']:.1f} | "
                  f"{r['antonym_swaps']} of {r['words_swapped']} | {r.get('afinn_flips', '–')} |", flush=True)
    used = {f'{r["attack"]}: {r["params"].get("neighbours")}, {r["params"].get("importance")}'
            for r in rows if r["attack"].startswith("textfooler")}
    print("textfooler neighbours:", sorted(used))
    for row in args.sample_row if args.sample else ():
        attack, kw = ATTACKS[row]
        res = get_attack(attack, max_change=0.2, **kw).run(model, x, y, vocab=vocab, texts=texts)
        rows_, cols = torch.nonzero(res.x_adv != x, as_tuple=True)
        pick = torch.randperm(len(rows_), generator=torch.Generator().manual_seed(args.sample_seed))[: args.sample]
        print(f"{args.sample} random substitutions of {len(rows_)} ({row}, 0.2, {res.params['neighbours']}, "
              f"reviews {args.start}-{args.start + len(texts) - 1}, seed {args.sample_seed}):")
        for n, i in enumerate(pick.tolist(), 1):
            r, c = int(rows_[i]), int(cols[i])
            words = [vocab.tokens[int(t)] for t in x[r, max(0, c - 6): c + 7] if t != vocab.pad_id]
            at = c - max(0, c - 6)
            words[at] = f"[{words[at]} -> {vocab.tokens[int(res.x_adv[r, c])]}]"
            print(f"{n:2d}. {' '.join(words)}")


if __name__ == "__main__":
    main()
