"""``nnsafety hallucination``: how well each hallucination score flags a language model's made-up
answers (``RUN --probe factworld``), or how well a knowledge-grounded detector recognises
hallucinated answers on HaluEval QA (``--data halueval_qa``)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._base import UsageError, add_command

PROBES = ("factworld",)


def run_hallucination(args: argparse.Namespace) -> int:
    from ..data.factworld import make_world
    from ..genai.lm import load_lm
    from ..genai.probe import hallucination_probe
    from ..runs import write_json_atomic

    if args.out and Path(args.out).exists() and not args.overwrite:
        raise UsageError(f"nnsafety hallucination: error: {args.out} already exists; pass --overwrite to replace it")
    if args.data is not None:
        if args.run is not None:
            raise UsageError("nnsafety hallucination: error: expected either a RUN (with --probe) or --data, got both")
        return _run_halueval(args)
    if args.run is None:
        raise UsageError("nnsafety hallucination: error: expected a language-model RUN or --data halueval_qa")
    if args.n < 1 or args.questions < 0 or args.temperature <= 0:
        raise UsageError("nnsafety hallucination: error: expected --n >= 1, --questions >= 0 and --temperature > 0, "
                         f"got {args.n}, {args.questions}, {args.temperature}")
    levels = _levels(args.noise) if args.noise else None
    lm = load_lm(args.run, top_k=args.top_k, seed=args.seed, max_new_tokens=args.max_new_tokens)
    world = make_world(args.entities, args.known, args.world_seed)
    questions = world.questions()
    if args.questions:  # the first N about known entities and the first N about unknown ones
        questions = ([q for q in questions if q.known][: args.questions]
                     + [q for q in questions if not q.known][: args.questions])
    result = hallucination_probe(lm, questions, n=args.n, temperature=args.temperature, equivalent=args.equivalence,
                                 seed=args.seed)
    out = {"run": str(args.run), "probe": args.probe,
           "world": {"n_entities": args.entities, "n_known": args.known, "seed": args.world_seed},
           **result.to_dict()}
    tables = [result.to_markdown()]
    if args.noise:
        from ..genai.noise import answer_noise_response

        noise = answer_noise_response(lm, [q.prompt for q in questions if q.known], levels=levels, n=args.n,
                                      temperature=args.temperature, seed=args.seed)
        out["noise_response"] = noise.to_dict()
        tables.append("Noise response (questions about known people):\n\n" + noise.to_markdown())
    if args.machine_text:
        from ..genai.machine_text import continuations, detect_machine_text

        human = [r.rstrip("\n") for r in world.records("test")]
        machine_lm = load_lm(args.run, seed=args.seed, max_new_tokens=160)
        mt = detect_machine_text(machine_lm, human, continuations(machine_lm, human, seed=args.seed), seed=args.seed)
        out["machine_text"] = mt.to_dict()
        tables.append("Machine-text detection (held-out biographies vs the model's continuations):\n\n"
                      + mt.to_markdown())
    if args.out:
        write_json_atomic(Path(args.out), out)
    if args.json:
        print(json.dumps({k: v for k, v in out.items() if k != "rows"}, sort_keys=True))
    else:
        print("\n".join(tables), end="")
    return 0


def _levels(text: str):
    try:
        levels = [float(v) for v in text.split(",")]
    except ValueError:
        levels = []
    if not levels or levels[0] != 0 or any(not 0 <= v <= 1 for v in levels):
        raise UsageError(f"nnsafety hallucination: error: expected --noise as typo levels in [0, 1] starting at 0 "
                         f"(e.g. 0,0.05,0.1), got {text!r}")
    return levels


def _run_halueval(args: argparse.Namespace) -> int:
    from ..data.halueval import load_halueval_qa
    from ..genai.grounding import evaluate_grounding
    from ..runs import write_json_atomic

    result = evaluate_grounding(load_halueval_qa(args.data_root), seed=args.seed)
    out = {"data": args.data, "detector": "knowledge_support", **result.to_dict()}
    if args.out:
        write_json_atomic(Path(args.out), out)
    print(json.dumps(out, sort_keys=True) if args.json else result.to_markdown(), end="\n" if args.json else "")
    return 0


def register(sub) -> None:
    p = add_command(sub, "hallucination", "ask a language-model run questions with exact ground truth and report "
                                          "the AUROC (bootstrap 95% CI) of each hallucination score for "
                                          "separating its hallucinated answers from correct ones", run_hallucination)
    p.add_argument("run", nargs="?", help="language-model run directory (e.g. trained with --method lm on factworld)")
    p.add_argument("--data", choices=["halueval_qa"], default=None,
                   help="instead of a run: judge HaluEval QA answers with the knowledge-grounded detector")
    p.add_argument("--data-root", dest="data_root", default=None,
                   help="folder holding halueval/ (default: data/genai, filled by `make data-genai`)")
    p.add_argument("--probe", choices=PROBES, default="factworld", help="question set with ground truth")
    p.add_argument("--entities", type=int, default=100, help="factworld: people in the world (as trained)")
    p.add_argument("--known", type=int, default=50, help="factworld: people the training text describes")
    p.add_argument("--world-seed", dest="world_seed", type=int, default=0, help="factworld: the world's seed")
    p.add_argument("--questions", type=int, default=0,
                   help="ask only the first N questions about known and N about unknown people (0 = all)")
    p.add_argument("--n", type=int, default=10, help="sampled answers per question")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--top-k", dest="top_k", type=int, default=None, help="sample from the k most likely tokens")
    p.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=12,
                   help="longest answer, tokens (12 as in the experiment table)")
    p.add_argument("--equivalence", choices=["normalized_match", "same_content"], default="normalized_match",
                   help="when two answers mean the same (semantic clustering)")
    p.add_argument("--noise", default=None,
                   help="also the noise response: comma-separated prompt typo levels starting at 0 (e.g. 0,0.05,0.1)")
    p.add_argument("--machine-text", dest="machine_text", action="store_true",
                   help="also machine-text detection: held-out biographies vs the model's continuations")
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed")
    p.add_argument("--out", help="also write the full result (per-question rows) as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
