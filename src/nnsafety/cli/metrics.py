"""``nnsafety eval RUN --metric NAME``: the safety metrics of a trained run, as text or JSON."""
from __future__ import annotations

import argparse
import json
from typing import Callable, Dict

from ._parse import write_figure

METRICS = ("noise_response", "hessian", "landscape", "boundary", "spectral")


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("safety metrics (--metric)")
    g.add_argument("--metric", choices=METRICS, help="noise-response curves, Hessian spectrum, loss landscape, "
                                                     "decision boundary / margins, or weight spectra")
    g.add_argument("--data-free", dest="data_free", action="store_true",
                   help="noise_response only: pure-noise probes around grey images instead of test data")
    g.add_argument("--family", default="gaussian", help="noise_response perturbation family")


def _cross_entropy():
    import torch.nn.functional as F

    return F.cross_entropy


def _noise_response(args, run, dataset):
    from ..metrics import noise_response

    cfg = run.config["model"]
    text = getattr(dataset, "texts", None) is not None
    if text:  # text: token families, random-token probes
        from ..metrics import text_noise_response

        family = "token_replace" if args.family == "gaussian" else args.family
        ids, y = dataset.tensors()
        if args.data_free:  # lengths of the evaluated split stand in for the training lengths
            res = text_noise_response(run.model, dataset.domain, family=family, seed=args.seed,
                                      lengths=(ids != dataset.domain.pad_id).sum(1), max_len=ids.shape[1])
        else:
            res = text_noise_response(run.model, dataset.domain, ids, y, family=family, seed=args.seed)
    elif args.data_free:
        res = noise_response(run.model, family=args.family, in_shape=cfg["in_shape"],
                             num_classes=cfg["num_classes"], seed=args.seed)
    else:
        x, y = dataset.tensors()
        res = noise_response(run.model, x, y, family=args.family, seed=args.seed)
    what = "texts" if text else "images"
    probes = (("data-free: random-token texts of the split's lengths" if text else "data-free: noise around a grey image")
              if res.data_free else f"{res.n_probes} test {what} of {getattr(dataset, 'name', 'the data')}")
    lines = [f"noise response to {res.family} noise ({probes}; {res.n_probes} probes × {len(res.levels)} levels "
             f"{res.levels[0]:g}..{res.levels[-1]:g})"]
    if res.accuracy_auc is not None:
        half = res.half_accuracy_level
        lines.append(f"accuracy AUC {res.accuracy_auc:.4f} (mean accuracy over the levels, 1 = never hurt); "
                     "accuracy halves at level "
                     + (f"{half:.3g}" if half is not None else f"> {res.levels[-1]:g} (never)"))
    lines.append(f"flip AUC {res.flip_auc:.4f} (mean fraction of predictions that change from the noise-free one)")
    lines.append(f"collapse score {res.collapse_score:.3f} onto class {res.collapse_class}: the level-averaged "
                 f"fraction of probes predicted as class {res.collapse_class} with confidence > "
                 f"{res.confidence_threshold:g}; {res.collapse_threshold:g} or more is flagged (noise pulled into one "
                 "class, as a backdoor target can pull it)"
                 + ("  ** FLAGGED **" if res.flagged else " — not flagged"))
    return res, lines


def _training_data(args, run):
    """Flatness is a property of the training loss, so the Hessian and landscape views use the
    training split (first ``--n`` images when given)."""
    from ..data import load_dataset

    data = args.data or run.config["data"]["name"]
    train = load_dataset(data, root=args.data_root or run.config["data"].get("root"), split="train")
    return train.subset(args.n) if args.n else train


def _hessian(args, run, dataset):
    from ..metrics import hessian_eigenvalues, hessian_trace

    dataset = _training_data(args, run)
    data = dataset.tensors()
    eig = hessian_eigenvalues(run.model, _cross_entropy(), data, k=5, seed=args.seed)
    tr = hessian_trace(run.model, _cross_entropy(), data, seed=args.seed)
    lines = [f"Hessian of the training loss on {len(dataset)} training images",
             f"top-5 eigenvalues {', '.join(f'{v:.4g}' for v in eig.eigenvalues)} ({eig.n_hvp} HVPs)",
             f"trace {tr.estimate:.4g} ± {tr.std_error:.2g} ({tr.n_hvp} HVPs, {tr.method})"]
    return _Pair({"eigenvalues": eig.to_dict(), "trace": tr.to_dict()}, eig), lines


def _landscape(args, run, dataset):
    from ..metrics import loss_landscape

    res = loss_landscape(run.model, _cross_entropy(), _training_data(args, run).tensors(), dims=1, seed=args.seed)
    center = len(res.coords) // 2
    lines = [f"1-D loss landscape along a filter-normalized direction ({len(res.coords)} points)",
             f"loss at the minimum {res.loss[center]:.4f}; at ±{abs(res.coords[0]):g}: "
             f"{res.loss[0]:.4f} / {res.loss[-1]:.4f}"]
    return res, lines


def _boundary(args, run, dataset):
    from ..metrics import decision_boundary_2d, margin_distribution

    x, y = dataset.tensors()
    if x.dim() == 2 and x.shape[1] == 2:
        res = decision_boundary_2d(run.model, x, y)
        return res, ["decision boundary over the 2-D input plane"]
    res = margin_distribution(run.model, x[:200], y[:200], directions="adversarial", seed=args.seed)
    lines = [f"distance to the decision boundary along adversarial directions ({len(res.distances)} inputs): "
             f"median {res.median:.4f}, not reached within {res.max_dist:g}: {res.censored_fraction:.1%}"]
    return res, lines


def _spectral(args, run, dataset):
    from ..metrics import spectral_analysis

    res = spectral_analysis(run.model, seed=args.seed)
    lines = ["| layer | shape | alpha | alpha_weighted | stable rank | spikes | warnings |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in res.layers:
        lines.append(f"| {r.name} | {'×'.join(map(str, r.shape))} | {r.alpha:.2f} | {r.alpha_weighted:.2f} | "
                     f"{r.stable_rank:.1f} | {r.num_spikes} | {'; '.join(r.warnings)} |")
    lines += [f"skipped {s['name']}: {s['reason']}" for s in res.skipped]
    lines.append(f"mean alpha {res.mean_alpha:.3f}")
    return res, lines


class _Pair:
    """Two results shown as one: ``to_dict`` merges them, ``plot`` draws the first."""

    def __init__(self, data: dict, plotted) -> None:
        self._data, self._plotted = data, plotted

    def to_dict(self) -> dict:
        return self._data

    def plot(self, ax=None):
        return self._plotted.plot(ax)


VIEWS: Dict[str, Callable] = {"noise_response": _noise_response, "hessian": _hessian, "landscape": _landscape,
                              "boundary": _boundary, "spectral": _spectral}


def check_metric_arguments(args: argparse.Namespace) -> None:
    """Flags that only one metric reads are refused beside another, before any work: a silent
    ignore let ``--metric hessian --data-free`` measure 1,347 training images unannounced."""
    from ._base import UsageError

    if args.metric != "noise_response":
        for flag, given in (("--data-free", args.data_free), ("--family", args.family != "gaussian")):
            if given:
                where = f"--metric {args.metric}" if args.metric else "no --metric"
                raise UsageError(f"nnsafety eval: error: {flag} applies only to --metric noise_response, got {where}"
                                 + (" (the Hessian and the landscape use the training split; --n limits it)"
                                    if args.metric in ("hessian", "landscape") else ""))


def eval_metric(args: argparse.Namespace, run, dataset) -> int:
    result, lines = VIEWS[args.metric](args, run, dataset)
    if args.json:
        print(json.dumps({"run": str(run.path), "metric": args.metric, **result.to_dict()}, sort_keys=True,
                         default=_jsonable))
    else:
        print("\n".join(lines))
    write_figure(result, args.figure)
    return 0


def _jsonable(value):
    """Eigenvectors are tensors; JSON output keeps their shapes, not their values."""
    shape = getattr(value, "shape", None)
    return {"tensor_shape": list(shape)} if shape is not None else str(value)
