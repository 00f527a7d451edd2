"""``nnsafety <command>``: a thin layer that parses arguments and calls the Python API.

Every user error (unknown name, missing file, bad value) becomes one line on stderr and exit
status 2, with nothing written; a traceback means a bug in nnsafety.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Callable, Dict, List, Optional

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise UsageError(f"{self.prog}: error: {message}")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def decorator(fn):
        COMMANDS[name] = fn
        return fn

    return decorator


# ----------------------------------------------------------------------------- train

def _add_train_options(p: argparse.ArgumentParser) -> None:
    from .train.config import TrainConfig

    d = TrainConfig()
    g = p.add_argument_group("training (flags override --config; --set overrides both)")
    g.add_argument("--data", help=f"dataset name (default: {d.data})")
    g.add_argument("--data-root", dest="data_root", help="folder with the dataset's files (cifar10, mnist, ...)")
    g.add_argument("--model", help=f"model name (default: {d.model})")
    g.add_argument("--method", help=f"training method (default: {d.method})")
    g.add_argument("--epochs", type=int, help=f"number of epochs (default: {d.epochs})")
    g.add_argument("--batch-size", dest="batch_size", type=int, help=f"global batch size (default: {d.batch_size})")
    g.add_argument("--optimizer", help=f"sgd or adamw (default: {d.optimizer})")
    g.add_argument("--lr", type=float, help=f"peak learning rate (default: {d.lr})")
    g.add_argument("--momentum", type=float, help=f"SGD momentum, Nesterov (default: {d.momentum})")
    g.add_argument("--weight-decay", dest="weight_decay", type=float, help=f"(default: {d.weight_decay})")
    g.add_argument("--schedule", help=f"cosine, step or constant (default: {d.schedule})")
    g.add_argument("--warmup-epochs", dest="warmup_epochs", type=float, help=f"(default: {d.warmup_epochs})")
    g.add_argument("--label-smoothing", dest="label_smoothing", type=float, help=f"(default: {d.label_smoothing})")
    g.add_argument("--seed", type=int, help=f"(default: {d.seed})")
    g.add_argument("--poison", help="backdoor attack applied to the training data (e.g. badnets)")
    g.add_argument("--poison-rate", dest="poison_rate", type=float, help="fraction of training samples poisoned")
    g.add_argument("--target", type=int, help="backdoor target class")
    g.add_argument("--checkpoint-every", dest="checkpoint_every", type=int,
                   help=f"also checkpoint every N steps; 0 = at epoch ends only (default: {d.checkpoint_every})")
    g.add_argument("--eval-every", dest="eval_every", type=int, help=f"evaluate every N epochs (default: {d.eval_every})")
    g.add_argument("--device", help=f"auto, cpu or cuda (default: {d.device})")
    g.add_argument("--config", help="TOML file whose keys are these options ([model_kwargs], [method_kwargs] tables)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any option, e.g. --set lr=0.1 --set model_kwargs.width=64 (repeatable)")


def _train_config(args: argparse.Namespace):
    from .train.config import TrainConfig, apply_overrides, load_toml

    values = TrainConfig().to_dict()
    if args.config:
        values.update(load_toml(args.config))
    names = {f.name for f in fields(TrainConfig)}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    poison_flags = {"rate": args.poison_rate, "target": args.target}
    values["poison_kwargs"] = {**values.get("poison_kwargs", {}), **{k: v for k, v in poison_flags.items() if v is not None}}
    values = apply_overrides(values, args.set)
    return TrainConfig.from_dict(values)


def _explicit_training_flags(args: argparse.Namespace) -> List[str]:
    from .train.config import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    extra = {"poison_rate", "target"}
    given = [k for k, v in vars(args).items() if (k in names or k in extra) and v is not None]
    return given + (["config"] if args.config else []) + (["set"] if args.set else [])


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    from .train import Trainer

    if args.resume and _explicit_training_flags(args):
        raise UsageError(
            f"nnsafety train: error: --resume continues the saved configuration; got training options "
            f"{', '.join('--' + f.replace('_', '-') for f in _explicit_training_flags(args))}"
        )
    config = _train_config(args)
    trainer = Trainer(config, out=args.out, resume=args.resume, overwrite=args.overwrite,
                      progress=None if not args.quiet else False)
    result = trainer.fit()
    if trainer.info.is_main:
        _report_training(result, args.json)
    return 0


def _report_training(result, as_json: bool) -> None:
    final = result.final
    if as_json:
        print(json.dumps({"run_dir": str(result.run_dir), **final}, sort_keys=True))
        return
    print(f"run directory: {result.run_dir}")
    print(f"test accuracy: {final.get('test_acc', float('nan')):.4f}  "
          f"loss: {final.get('test_loss', float('nan')):.4f}  ECE: {final.get('test_ece', float('nan')):.4f}")


# ----------------------------------------------------------------------------- eval

@command("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .metrics.accuracy import evaluate
    from .runs import load_run

    run = load_run(args.run)
    data = args.data or run.config["data"]["name"]
    root = args.data_root or run.config["data"].get("root")
    dataset = load_dataset(data, root=root, split="test")
    expected = tuple(run.config["model"]["in_shape"])
    if tuple(dataset.in_shape) != expected:
        raise UsageError(f"nnsafety eval: error: expected data of shape {expected} for this model, got {data} with {tuple(dataset.in_shape)}")
    result = evaluate(run.model, dataset, batch_size=args.batch_size)
    out = {"run": str(run.path), "data": data, **result.to_dict()}
    out.pop("reliability")
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(f"{run.path} on {data} test ({result.n} images): accuracy {result.accuracy:.4f}, "
              f"loss {result.loss:.4f}, ECE {result.ece:.4f}")
    return 0


# ----------------------------------------------------------------------------- demo

@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from .train import TrainConfig, Trainer

    out = Path(args.out)
    t0 = time.perf_counter()
    print(f"nnsafety demo: training a cnn on the embedded digits data -> {out}", flush=True)
    trainer = Trainer(TrainConfig(), out=out, overwrite=True, progress=None if not args.quiet else False)
    result = trainer.fit()
    final = result.final
    print(f"run directory: {out}")
    print(f"test accuracy: {final['test_acc']:.4f} ({final['test_acc'] * 100:.1f}%), ECE {final['test_ece']:.4f}")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0


# ----------------------------------------------------------------------------- list

@command("list")
def cmd_list(args: argparse.Namespace) -> int:
    from .data import list_datasets
    from .models import list_models
    from .train import list_methods

    families = {"models": list_models, "datasets": list_datasets, "methods": list_methods}
    for name in [args.family] if args.family else families:
        print(f"{name}: {', '.join(families[name]())}")
    return 0


# ----------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnsafety", description=__doc__.splitlines()[0].strip("`"), formatter_class=_Formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train a model (any method) into a run directory", formatter_class=_Formatter)
    p.add_argument("--out", required=True, help="run directory to create")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    _add_train_options(p)

    p = sub.add_parser("eval", help="clean accuracy, loss and ECE of a trained run", formatter_class=_Formatter)
    p.add_argument("run", help="run directory")
    p.add_argument("--data", help="dataset (default: the one the run was trained on)")
    p.add_argument("--data-root", dest="data_root", help="folder with the dataset's files")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=1024, help="evaluation batch size")
    p.add_argument("--json", action="store_true", help="print JSON to stdout")

    p = sub.add_parser("demo", help="train and evaluate on the embedded digits data", formatter_class=_Formatter)
    p.add_argument("--out", default="runs/demo", help="run directory (replaced if it exists)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("list", help="list registered models, datasets and methods", formatter_class=_Formatter)
    p.add_argument("family", nargs="?", choices=["models", "datasets", "methods"], help="only this family")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(str(e).splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"nnsafety: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nnsafety: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
