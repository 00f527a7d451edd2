"""TextFooler side by side with TextAttack on the same model, reviews, word vectors and budget.

Peer: the PyPI package textattack 0.3.11 in its own venv (``make bench-textattack``: installed with
``--no-deps`` beside the local torch wheel plus only what its import path needs). Its ``textfooler``
recipe cannot run offline (it downloads the Universal Sentence Encoder, NLTK's POS tagger and the
counter-fitted GloVe table), so the attack is built from TextAttack's own components as that
recipe composes them, minus the two parts that need downloads (sentence encoder, POS constraint):
``WordSwapEmbedding(max_candidates=K)`` over OUR word vectors (spaCy md vectors of the model's
vocabulary, given to ``textattack.shared.WordEmbedding`` with a neighbour matrix ordered by cosine),
constraints ``RepeatModification``, ``StopwordModification(our stop words)``,
``MaxWordsPerturbed(max_percent)``, ``WordEmbeddingDistance(min_cos_sim)``, goal
``UntargetedClassification`` and search ``GreedyWordSwapWIR("delete")``. The model is reached through
a ``ModelWrapper`` that tokenizes each candidate string with the run's vocabulary, so both attacks
query the same network on the same token ids.

Ours: ``nnsafety.attacks.textfooler`` with the same neighbour table (k, cosine floor), the same stop
words and max_change; its candidates of all active reviews go through the model in one batched pass,
through text_cnn's ``substitution_logits`` (only the conv windows around the changed word are
recomputed; equal to the full forward up to float rounding) and, as a second row, through a plain
full forward per candidate (``FullForward``: what any other model gets). The peer calls the same
network through its wrapper (a black box to it: it cannot use the one-word path).

Neighbours, both sides the same table and the same vectors for the cosine floor: ``--source auto``
= MiniLM's input embeddings counter-fitted to WordNet when the extra nlp is in the venv (else spaCy
md), WordNet antonyms and identical vectors removed (``data.synonyms``, ``data.counterfit``).

Both sides rank words by deleting them (ours: ``importance="delete"``, the default) and get the same
word budget per review, ⌊p·n⌋ (the peer's own rule rounds up: ``run_peer`` sets its limit to ours).
A difference that remains: TextAttack counts words without the "!", "?", "$" tokens. Both count one
query per model evaluation of one text.

Run (NLTK's stop-word list is written from ours into a temporary NLTK_DATA, because TextAttack's
import builds a StopwordModification from NLTK's list and NLTK may not download it)::

    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \\
        .venv-textattack/bin/python benchmarks/bench_textattack.py --run runs/bench_textattack_erm
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nnsafety.attacks.text import STOP_WORDS, textfooler  # noqa: E402
from nnsafety.data import Vocab, load_dataset  # noqa: E402
from nnsafety.data.synonyms import describe_neighbours, resolve_source, source_vectors, vocab_neighbours  # noqa: E402
from nnsafety.runs import load_run  # noqa: E402


def nltk_stopwords_dir() -> str:
    """A temporary NLTK_DATA holding our stop words as NLTK's English list (read at TextAttack import)."""
    root = Path(tempfile.mkdtemp(prefix="nltk_data_"))
    (root / "corpora" / "stopwords").mkdir(parents=True)
    (root / "corpora" / "stopwords" / "english").write_text("\n".join(sorted(STOP_WORDS)) + "\n", encoding="utf-8")
    return str(root)


def train_erm(run: Path, epochs: int) -> None:
    """The ERM text_cnn of ``nnsafety.experiments.text`` (MODEL_KWARGS: 64-d, 3/4/5 × 50 maps), cached in ``run``."""
    from nnsafety.experiments.text import text_config
    from nnsafety.train import train

    if not (run / "model.safetensors").is_file():
        train(text_config("fine_foods", "erm", 0, epochs), out=run, overwrite=True, progress=False)


def neighbour_tables(vocab: Vocab, k: int, source: str = "auto"):
    """Unit word vectors V×E of the vocabulary under ``source`` (auto: counter-fitted MiniLM input
    embeddings with the extra nlp, else spaCy md; ``source_vectors``), which ids have one, and each id's k nearest by cosine with WordNet
    antonyms and identical vectors removed (``vocab_neighbours``' guard; no cosine floor: both
    attacks apply ``min_cos`` themselves)."""
    source = resolve_source(source)
    vec, found = source_vectors(vocab.tokens, source)
    ids, cos = vocab_neighbours(vocab.tokens, k, -1.0, source=source, guard=True)
    unit = vec / vec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit, found, ids, cos, describe_neighbours(source, True)


class FullForward(torch.nn.Module):
    """The same network without ``substitution_logits``: every candidate goes through a full forward."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ids):
        return self.net(ids)


def build_peer(model, vocab: Vocab, unit, found, nn_ids, k: int, min_cos: float, max_change: float, batch: int):
    import textattack
    from textattack.constraints.overlap import MaxWordsPerturbed
    from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
    from textattack.constraints.semantics import WordEmbeddingDistance
    from textattack.goal_functions import UntargetedClassification
    from textattack.models.wrappers import ModelWrapper
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.shared import WordEmbedding
    from textattack.transformations import WordSwapEmbedding

    class Wrapper(ModelWrapper):
        def __init__(self, net):
            self.model = net

        def __call__(self, texts):
            with torch.no_grad():
                return self.model(vocab.encode(list(texts))).numpy()

    word2index = {t: i for i, t in enumerate(vocab.tokens) if found[i]}
    index2word = {i: t for t, i in word2index.items()}
    # row i: [i, its k neighbours] (TextAttack skips the first entry as the word itself). An empty
    # slot (−1: the guard left fewer than k) holds i again, which its WordSwap skips as "no change";
    # any id it cannot name would make it drop all of the word's candidates (a KeyError in
    # WordSwapEmbedding._get_replacement_words)
    own = torch.arange(len(vocab))[:, None].expand_as(nn_ids)
    nn_matrix = np.concatenate([np.arange(len(vocab))[:, None], torch.where(nn_ids >= 0, nn_ids, own).numpy()], axis=1)
    emb = WordEmbedding(unit.numpy(), word2index, index2word, nn_matrix)
    transformation = WordSwapEmbedding(max_candidates=k, embedding=emb)
    # the budget in words is set per review to ours, ⌊max_change · n⌋ (run_peer)
    budget = MaxWordsPerturbed(max_num_words=1)
    # its stop-word check compares the word as written ("This", "I" are not "this", "i"), ours the
    # lower-cased token: give it every casing so that neither side changes a stop word
    stop = set(STOP_WORDS) | {w.capitalize() for w in STOP_WORDS} | {w.upper() for w in STOP_WORDS}
    constraints = [RepeatModification(), StopwordModification(stopwords=stop),
                   budget, WordEmbeddingDistance(embedding=emb, min_cos_sim=min_cos)]
    goal = UntargetedClassification(Wrapper(model), model_batch_size=batch)
    return textattack.Attack(goal, constraints, transformation, GreedyWordSwapWIR(wir_method="delete")), budget


def run_peer(peer, texts, labels, budgets, clean_pred):
    """TextAttack on each review with our word budget; a correctly classified review with a budget of
    0 words is a failure after its one clean query (MaxWordsPerturbed reads 0 as "no limit")."""
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult

    attack, budget = peer
    t0 = time.perf_counter()
    c0 = time.process_time()
    out = []
    for t, y, b, c in zip(texts, labels.tolist(), budgets.tolist(), clean_pred.tolist()):
        if b == 0:
            out.append(("skipped" if c != y else "failed", 1, 0))
            continue
        budget.max_num_words = b
        r = attack.attack(t, y)
        kind = {SuccessfulAttackResult: "won", FailedAttackResult: "failed", SkippedAttackResult: "skipped"}[type(r)]
        words = len(r.original_result.attacked_text.all_words_diff(r.perturbed_result.attacked_text))
        out.append((kind, r.perturbed_result.num_queries, words))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    attacked = [o for o in out if o[0] != "skipped"]
    won = [o for o in attacked if o[0] == "won"]
    # queries: TextAttack's own count of model evaluations per review (the clean one included, as in ours)
    return {"attacked": len(attacked), "success": len(won) / max(1, len(attacked)),
            "words": float(np.mean([o[2] for o in won])) if won else 0.0,
            "queries": float(np.mean([o[1] for o in attacked])), "total_queries": int(sum(o[1] for o in out)),
            "wall": wall, "cpu": cpu}


def run_ours(model, vocab, x, y, texts, nn_ids, k, min_cos, max_change, batch, min_sim=None, similarity=None):
    """Ours on the same table; ``model`` may be ``FullForward(model)`` (no one-word fast path)."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = textfooler(model, x, y, vocab, texts, max_change=max_change, neighbours=nn_ids, k=k, min_cos=min_cos,
                     batch_size=batch, min_sim=min_sim, similarity=similarity)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = res.summary()
    return {"attacked": s["attacked"], "success": s["success_rate"], "words": s["mean_words_changed"],
            "queries": s["mean_queries"], "total_queries": int(res.queries.sum()), "wall": wall, "cpu": cpu,
            "result": res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default="runs/bench_textattack_erm", help="ERM text_cnn run (trained if absent)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("-n", type=int, default=200, help="first n test reviews")
    ap.add_argument("--max-change", type=float, nargs="+", default=[0.1, 0.2])
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--min-cos", type=float, default=0.5)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--min-sim", type=float, nargs="*", default=[],
                    help="also run ours with the MiniLM sentence floor(s) (needs the extra nlp; the peer is skipped)")
    ap.add_argument("--no-peer", action="store_true", help="ours only (e.g. in .venv, for --min-sim)")
    ap.add_argument("--source", default="auto", help="neighbour vectors: auto (counterfit_minilm with the extra nlp), counterfit_minilm, minilm, spacy_md")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per budget, sides alternating in order; medians reported")
    args = ap.parse_args()
    os.environ.setdefault("NLTK_DATA", nltk_stopwords_dir())
    torch.manual_seed(0)
    run = Path(args.run)
    train_erm(run, args.epochs)
    loaded = load_run(run)
    model = loaded.model.eval()
    vocab = Vocab.load(run / "vocab.json")
    test = load_dataset("fine_foods", split="test")
    texts, y = list(test.texts[: args.n]), test.labels[: args.n]
    x = vocab.encode(texts)
    with torch.no_grad():
        clean_pred = model(x).argmax(1)
    acc = float((clean_pred == y).float().mean())
    unit, found, nn_ids, cos, described = neighbour_tables(vocab, args.k, args.source)
    floor = nn_ids.clone()
    floor[cos < args.min_cos] = -1  # our table: the same neighbours, those under the floor dropped
    similarity = None
    if args.min_sim:
        from nnsafety.attacks.text_similarity import SentenceSimilarity

        similarity = SentenceSimilarity(15)
    print(f"# TextFooler: nnsafety vs TextAttack 0.3.11 components, {args.n} Fine Foods test reviews, clean accuracy "
          f"{100 * acc:.1f} % — {machine()}")
    print(f"k = {args.k} neighbours ({described}), cosine ≥ {args.min_cos}, stop words kept, model batch {args.batch}, "
          f"budget ⌊max change · n⌋ words on both sides; median of {args.rounds} rounds, sides alternating")
    from nnsafety.attacks.text import edit_budget, substitution_prob, true_class_prob

    # the floor both sides share: the network alone on 2,048 copies of the reviews (sorted by length)
    probe = x.repeat(-(-2048 // len(x)), 1)[:2048]
    c0 = time.process_time()
    true_class_prob(model, probe, y.repeat(-(-2048 // len(x)))[:2048], args.batch)
    print(f"model alone, full forward: {2048 / (time.process_time() - c0):.0f} queries / CPU s")
    g = torch.Generator().manual_seed(0)
    owner = torch.randint(0, len(x), (8192,), generator=g)
    pos = (torch.rand(8192, generator=g) * (x[owner] != vocab.pad_id).sum(1)).long()
    c0 = time.process_time()
    substitution_prob(model, x, owner, pos, torch.full_like(owner, vocab.unk_id), y[owner], args.batch)
    print(f"model alone, one-word substitutions (substitution_logits): {8192 / (time.process_time() - c0):.0f} queries / CPU s")
    print("| max change | side | attacked | success | words changed | queries / review | queries / wall s | "
          "queries / CPU s | wall s | CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    sides = (["nnsafety", "nnsafety (full forward)"] + [f"nnsafety + MiniLM ≥ {m}" for m in args.min_sim]
             + ([] if args.no_peer else ["textattack"]))
    for p in args.max_change:
        seen = {side: [] for side in sides}
        for rnd in range(args.rounds):
            for side in (sides if rnd % 2 == 0 else sides[::-1]):
                if side == "textattack":
                    peer = build_peer(model, vocab, unit, found, nn_ids, args.k, args.min_cos, p, args.batch)
                    r = run_peer(peer, texts, y, edit_budget(x, p, vocab.pad_id), clean_pred)
                else:
                    m = float(side.split("≥ ")[1]) if "MiniLM" in side else None
                    net = FullForward(model) if "full forward" in side else model
                    r = run_ours(net, vocab, x, y, texts, floor, args.k, args.min_cos, p, args.batch, m, similarity)
                seen[side].append(r)
                print(f"<!-- round {rnd} {p} {side}: {r['total_queries'] / max(r['cpu'], 1e-9):.0f} q/CPU s, "
                      f"{r['cpu']:.1f} CPU s -->", flush=True)
        for side, rs in seen.items():
            r = rs[0]  # the attack is deterministic: success, words and queries are the same every round
            qw = float(np.median([o["total_queries"] / o["wall"] for o in rs]))
            qc = float(np.median([o["total_queries"] / max(o["cpu"], 1e-9) for o in rs]))
            print(f"| {p} | {side} | {r['attacked']} | {100 * r['success']:.1f}% | {r['words']:.2f} | {r['queries']:.1f} | "
                  f"{qw:.0f} | {qc:.0f} | {np.median([o['wall'] for o in rs]):.1f} | "
                  f"{np.median([o['cpu'] for o in rs]):.1f} |", flush=True)
        if "textattack" in seen:
            base = [o["total_queries"] / max(o["cpu"], 1e-9) for o in seen["textattack"]]
            for side in sides[:2]:
                ratio = [o["total_queries"] / max(o["cpu"], 1e-9) / b for o, b in zip(seen[side], base)]
                print(f"{p}: {side} / textattack queries per CPU s, per round: "
                      f"{', '.join(f'{v:.1f}x' for v in ratio)}; median {np.median(ratio):.1f}x", flush=True)


if __name__ == "__main__":
    main()
