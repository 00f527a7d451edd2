"""``nnsafety attack`` (robust accuracy, AutoAttack) and ``eval --attack`` (accuracy vs ε curve)."""
from __future__ import annotations

import argparse
import json
import sys

from ._base import UsageError, add_command
from ._parse import count, eps_list, positive_int, seed, unit_float, write_figure
from .evaluate import add_run_data_arguments, load_run_and_data


def _attack_kwargs(args: argparse.Namespace) -> dict:
    kw = {"norm": args.norm}
    if args.steps is not None:
        kw["steps"] = args.steps
    return kw


def _points(args: argparse.Namespace, dataset):
    x, y = dataset.tensors()
    if args.n:
        x, y = x[: args.n], y[: args.n]
    return x, y


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _announce_autoattack(say, model, x, y, args, data) -> None:
    """What is about to run and how long it can take (a bound from one timed batch)."""
    from ..attacks.autoattack import estimate_seconds

    if not x.shape[0]:
        return
    est = estimate_seconds(model, x, y, args.version, args.batch_size)
    total = sum(est.values())
    say(f"AutoAttack {args.version} on {x.shape[0]} {data} test images: {', '.join(est)}; at most about "
        f"{_duration(total)} if every point stays robust ({', '.join(f'{a} {_duration(s)}' for a, s in est.items())}); "
        "points broken early leave, so it usually takes less. Fewer images: -n")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def run_attack(args: argparse.Namespace) -> int:
    from ..attacks import ATTACKS, get_attack, list_attacks, robust_accuracy
    from ..train.distributed import init_distributed

    if args.file:
        from .attack_bytes import attack_file
        return attack_file(args)
    eps = eps_list(args.eps, args.norm)
    if len(eps) != 1:
        raise UsageError("nnsafety attack: error: expected one --eps; use `nnsafety eval --attack` for a curve")
    if args.min_sim is not None and args.attack != "textfooler":
        raise UsageError(f"nnsafety attack: error: --min-sim is TextFooler's sentence check; got --attack {args.attack}")
    if (args.neighbours is not None or args.no_antonym_guard) and args.attack != "textfooler":
        raise UsageError("nnsafety attack: error: --neighbours / --no-antonym-guard choose TextFooler's word "
                         f"candidates; got --attack {args.attack}")
    run, data, dataset = load_run_and_data(args)
    if dataset.domain.name == "bytes":
        from .attack_bytes import attack_folder
        return attack_folder(args, run, dataset)
    # Under torchrun the points are sharded across ranks and the counts summed (robust_accuracy);
    # rank 0 alone prints.
    if args.attack not in list_attacks():
        raise UsageError(f"nnsafety attack: error: unknown attack {args.attack!r}; expected one of: "
                         f"{', '.join(list_attacks())}")
    if "image" not in ATTACKS.domains(args.attack):
        return run_text_attack(args, run, dataset)
    ensemble = ATTACKS.get(args.attack).ensemble
    dist_info = init_distributed("cpu")
    if dist_info.enabled and ensemble:
        raise UsageError(f"nnsafety attack: error: {args.attack} runs in one process; use torchrun for the "
                         "single attacks (pgd, apgd, ...)")
    x, y = _points(args, dataset)
    progress = False if args.quiet else None
    if ensemble:
        say = (lambda line: None) if args.quiet or not dist_info.is_main else _stderr_line
        _announce_autoattack(say, run.model, x, y, args, data)
        result = get_attack(args.attack, eps=eps[0], norm=args.norm, version=args.version, batch_size=args.batch_size,
                            seed=args.seed, progress=progress, log=say).run(run.model, x, y)
        text = result.summary()
    else:
        result = robust_accuracy(run.model, x, y, args.attack, batch_size=args.batch_size, progress=progress,
                                 keep_adv=False, seed=args.seed, eps=eps[0], **_attack_kwargs(args),
                                 **({} if dataset.domain.name == "image" else {"domain": dataset.domain}))
        text = (f"{args.attack} {args.norm} eps={eps[0]:g} on {result.n} {data} test images: clean accuracy "
                f"{result.clean_accuracy:.4f}, robust accuracy {result.robust_accuracy:.4f} ({result.seconds:.1f} s)")
    if dist_info.is_main:
        print(json.dumps({"run": str(run.path), **result.to_dict()}, sort_keys=True) if args.json else text)
    return 0


def run_text_attack(args: argparse.Namespace, run, dataset) -> int:
    """A word/character attack (textfooler, deepwordbug, hotflip) on a text run: success, words
    changed, queries and five adversarial examples."""
    from ..attacks import get_attack

    if getattr(dataset, "vocab", None) is None:
        raise UsageError(f"nnsafety attack: error: {args.attack} attacks text runs, got a dataset without a vocabulary")
    x, y = _points(args, dataset)
    texts = dataset.texts[: len(x)] if dataset.texts is not None else None
    kw = {} if args.min_sim is None else {"min_sim": args.min_sim}
    if args.neighbours is not None:
        kw["neighbour_source"] = args.neighbours
    if args.no_antonym_guard:
        kw["antonym_guard"] = False
    result = get_attack(args.attack, max_change=args.max_change, batch_size=args.batch_size, **kw).run(
        run.model, x, y, vocab=dataset.vocab, texts=texts)
    print(json.dumps({"run": str(run.path), **result.to_dict()}, sort_keys=True) if args.json else result.to_text())
    return 0


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attacks (--attack)")
    g.add_argument("--attack", help="robust accuracy vs ε for this attack (e.g. pgd, apgd, fgsm, square)")
    g.add_argument("--eps", default="0.05,0.1,0.2", help="comma-separated ε values in pixel units ([0, 1] for Linf)")
    g.add_argument("--norm", default="Linf", choices=["Linf", "L2"], help="threat model")
    g.add_argument("--steps", type=positive_int, help="attack iterations (default: the attack's own)")


def check_eval_arguments(args: argparse.Namespace) -> None:
    """``eval --attack``'s ε values, checked before the run is loaded."""
    eps_list(args.eps, args.norm)


def eval_attack(args: argparse.Namespace, run, dataset) -> int:
    from ..attacks import robust_accuracy_curve

    x, y = _points(args, dataset)
    curve = robust_accuracy_curve(run.model, x, y, args.attack, eps_list(args.eps, args.norm), batch_size=args.batch_size,
                                  progress=False if args.quiet else None, seed=args.seed, **_attack_kwargs(args))
    if args.json:
        print(json.dumps({"run": str(run.path), **curve.to_dict()}, sort_keys=True))
    else:
        print(f"| ε ({curve.norm}) | robust accuracy ({curve.attack}) |\n| --- | --- |")
        print("\n".join(f"| {e:g} | {a:.4f} |" for e, a in zip(curve.eps, curve.robust_accuracy)))
        print(f"clean accuracy {curve.clean_accuracy:.4f} on {curve.n} images")
    write_figure(curve, args.figure)
    return 0


def register(sub) -> None:
    p = add_command(sub, "attack", "robust accuracy of a run under an adversarial attack or AutoAttack", run_attack)
    add_run_data_arguments(p)
    p.add_argument("--attack", default="pgd", help="a registered attack (nnsafety list): pgd, apgd, fgsm, "
                                                    "square, autoattack, ...")
    p.add_argument("--eps", default="0.1", help="perturbation budget in pixel units ([0, 1] for Linf)")
    p.add_argument("--norm", default="Linf", choices=["Linf", "L2"], help="threat model")
    p.add_argument("--steps", type=positive_int, help="attack iterations (default: the attack's own)")
    p.add_argument("--max-change", dest="max_change", type=unit_float, default=0.2,
                   help="text attacks: most fraction of a text's words that may change")
    p.add_argument("--min-sim", dest="min_sim", type=unit_float, default=None,
                   help="textfooler: keep a substitution only if MiniLM's sentence cosine of its 15-word "
                        "window stays at least this (e.g. 0.84; needs the extra nlp)")
    p.add_argument("--neighbours", choices=["auto", "counterfit_minilm", "minilm", "spacy_md"], default=None,
                   help="textfooler: word vectors whose neighbours are the candidates (auto: counterfit_minilm, "
                        "MiniLM's counter-fitted to WordNet synonyms in their first senses and antonyms, with the "
                        "extra nlp, else spacy_md; all need `make data-text`)")
    p.add_argument("--no-antonym-guard", dest="no_antonym_guard", action="store_true",
                   help="textfooler: keep WordNet antonyms and identical (clustered) vectors among the candidates")
    p.add_argument("--version", default="standard", choices=["standard", "plus", "rand"], help="AutoAttack version")
    p.add_argument("-n", "--n", dest="n", type=count, default=1000,
                   help="number of test images (0 = all); spell it -n under torchrun, whose parser takes --n as its own")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=500, help="attack batch size")
    p.add_argument("--seed", type=seed, default=0, help="seed of the attacks' randomness")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print JSON to stdout")
    p.add_argument("--file", help="bytes: attack this one executable (with --out FILE)")
    p.add_argument("--out", help="bytes: write the adversarial file(s) here (a file with --file, else a folder)")
