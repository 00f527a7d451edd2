"""nnsafety attacks vs torchattacks 3.5.1: robust accuracy and time, same weights, same process.

PGD-20 L∞ on the digits cnn test set and on a CIFAR-shaped preact_resnet18 batch, against the floor
20 × (forward + input-gradient backward) of the bare model measured in the same process; PGD with
per-sample early stop (robust-accuracy evaluation), per ε against torchattacks and against the
ideal replay of its own batch sizes (``--only early-stop``); the attack's own per-step cost on a tiny model;
AutoAttack standard (ours: the reference budgets) vs torchattacks' AutoAttack (its defaults).
Every PGD table alternates its candidates, takes the median of ``--repeats`` runs and reports both
wall time and this process's CPU time: on a shared machine other processes inflate wall time, so
the CPU-time ratios are the primary numbers there. "work" is the fraction of the N×steps
forward/backward rows the run actually computed (1 for fixed steps; load-independent).
torchattacks lives in ``.venv-bench``; when it is not importable here the script re-runs itself
there (nnsafety is installed editable in that venv). Both sides load one safetensors file.

Run: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_attacks.py [--cifar-width 32]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine  # noqa: E402  (sets OMP_WAIT_POLICY first)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "floor steps×(fwd+bwd)"
TA = "torchattacks PGD"


def train_digits_cnn(path: Path):
    from safetensors.torch import load_file, save_file

    from nnsafety.data import load_dataset
    from nnsafety.models import create_model

    model = create_model("cnn", 10, (1, 8, 8))
    if not path.exists():
        torch.manual_seed(0)
        x, y = load_dataset("digits", split="train").tensors()
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        for _ in range(300):
            idx = torch.randint(0, len(x), (128,))
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def clocks(cands, repeats, warmup):
    """{name: (wall s list, CPU s list)} per repeat; candidates alternate order every repeat."""
    for fn in cands.values():
        for _ in range(warmup):
            fn()
    wall = {k: [] for k in cands}
    cpu = {k: [] for k in cands}
    names = list(cands)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            cands[name]()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return {k: (wall[k], cpu[k]) for k in cands}


def paired(ts, ref):
    """Median over repeats of the per-repeat ratio ts[i] / ref[i]: robust to load that drifts."""
    return statistics.median(a / b for a, b in zip(ts, ref))


def floor(model, x, y, steps):
    """steps × (forward + CE + ∂/∂x) of the bare model as given: what any PGD must at least spend."""
    def run():
        for _ in range(steps):
            xr = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    return run


def acc(model, xa, y):
    with torch.no_grad():
        return (model(xa).argmax(1) == y).float().mean().item()


def work_fraction(model, run, n, steps):
    """Rows the attack fed through the model (forwards with grad) / (n × steps)."""
    return sum(batch_sizes(model, run)) / (n * steps)


def pgd_table(title, model, x, y, eps, alpha, steps, repeats, warmup, with_early_stop=True):
    """One table: floor, nnsafety fixed-step and early-stop PGD (one seed), torchattacks PGD."""
    import torchattacks

    from nnsafety.attacks import pgd

    ta = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    out = {}

    def ours(es):
        gen = torch.Generator().manual_seed(0)  # same start for both: same trajectories
        return lambda: out.__setitem__(es, pgd(model, x, y, eps, steps=steps, step_size=alpha,
                                                 early_stop=es, generator=gen))
    names = {False: "nnsafety pgd (fixed steps)", True: "nnsafety pgd early_stop"}
    cands = {FLOOR: floor(model, x, y, steps), names[False]: ours(False), TA: lambda: out.__setitem__("ta", ta(x, y))}
    if with_early_stop:
        cands[names[True]] = ours(True)
    t = clocks(cands, repeats, warmup)
    ra = {names[False]: acc(model, out[False], y), TA: acc(model, out["ta"], y)}
    work = {names[False]: 1.0, TA: 1.0, FLOOR: 1.0}
    if with_early_stop:
        ra[names[True]] = acc(model, out[True], y)
        work[names[True]] = work_fraction(model, ours(True), len(y), steps)
    med = statistics.median
    print(f"\n### {title}\n")
    print(f"{repeats} alternating runs (+{warmup} warm-up): median seconds; ratios are medians of the "
          "per-run ratios, CPU time (wall time)\n")
    print("| run | robust acc | work | CPU s | wall s | vs floor | vs torchattacks |")
    print("|---|---|---|---|---|---|---|")
    for name, (w, c) in t.items():
        r = f"{ra[name]:.4f}" if name in ra else "—"
        print(f"| {name} | {r} | {work[name]:.3f} | {med(c):.2f} | {med(w):.2f} | "
              f"{paired(c, t[FLOOR][1]):.2f}× ({paired(w, t[FLOOR][0]):.2f}×) | "
              f"{paired(c, t[TA][1]):.2f}× ({paired(w, t[TA][0]):.2f}×) |")
    sys.stdout.flush()


def agreement_table(model, x, y, eps_list, seeds=5, steps=20):
    """Robust accuracy of nnsafety vs torchattacks PGD with the same settings (requirement 5).

    Without random start both follow the same deterministic ascent, so they must agree up to float
    rounding. With random start the table gives mean ± sd over ``seeds`` starts per library: ours
    from ``Generator().manual_seed(s)``, torchattacks from torch's global RNG after
    ``torch.manual_seed(s)``. Both draw the same uniform stream (``uniform_(-ε, ε)`` and
    ``(2·rand − 1)·ε``), so with the same seed the two start points coincide and so must the results:
    the last column counts the seeds where they are equal.
    """
    import torchattacks

    from nnsafety.attacks import pgd

    print(f"\n### Agreement with torchattacks: PGD-{steps} L∞, α = 2.5ε/{steps}, digits cnn, {len(y)} points\n")
    print("| ε | no random start: ours / torchattacks | random start, mean ± sd over "
          f"{seeds} seeds: ours / torchattacks | difference of means (points) | seeds with equal robust accuracy |")
    print("|---|---|---|---|---|")
    for eps in eps_list:
        alpha = 2.5 * eps / steps
        det = [acc(model, pgd(model, x, y, eps, steps=steps, step_size=alpha, random_start=False), y),
               acc(model, torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y), y)]
        ours, theirs = [], []
        for s in range(seeds):
            ours.append(acc(model, pgd(model, x, y, eps, steps=steps, step_size=alpha,
                                       generator=torch.Generator().manual_seed(s)), y))
            torch.manual_seed(s)
            theirs.append(acc(model, torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps)(x, y), y))
        mo, mt = statistics.mean(ours), statistics.mean(theirs)
        print(f"| {eps:g} | {det[0]:.4f} / {det[1]:.4f} | {mo:.4f} ± {statistics.stdev(ours):.4f} / "
              f"{mt:.4f} ± {statistics.stdev(theirs):.4f} | {100 * (mo - mt):+.2f} | "
              f"{sum(a == b for a, b in zip(ours, theirs))} of {seeds} |")


def early_stop_sweep(model, x, y, eps_list, steps=20):
    """Robust accuracy (fixed vs early stop, one seed) and the work early stop needs, per ε."""
    from nnsafety.attacks import pgd

    print(f"\n### Early-stop work vs ε, PGD-{steps} L∞, α=2.5ε/steps, digits cnn, {len(y)} images "
          "(one run each)\n")
    print("| ε | robust acc fixed | robust acc early stop | work (rows / N·steps) |")
    print("|---|---|---|---|")
    for e in eps_list:
        def run(es):
            return pgd(model, x, y, e, steps=steps, early_stop=es, generator=torch.Generator().manual_seed(0))
        a_f, a_e = acc(model, run(False), y), acc(model, run(True), y)
        print(f"| {e} | {a_f:.4f} | {a_e:.4f} | {work_fraction(model, lambda: run(True), len(y), steps):.3f} |")


def batch_sizes(model, run):
    """Row count of every forward-with-grad the attack makes (its per-step working batch)."""
    sizes = []
    h = model.register_forward_pre_hook(lambda m, a: sizes.append(a[0].shape[0]) if torch.is_grad_enabled() else None)
    try:
        run()
    finally:
        h.remove()
    return sizes


def replay(model, x, y, sizes):
    """The ideal early stop: one forward + CE + ∂/∂x per step on exactly the rows early stop kept
    (sum over points of the steps until broken), with no bookkeeping at all."""
    def run():
        for b in sizes:
            xr = x[:b].detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), y[:b]), xr)
    return run


def early_stop_table(model, x, y, eps_list, repeats, steps=20, title="digits cnn"):
    """Early-stop PGD vs torchattacks' PGD and vs the ideal replay, per ε (α = 2.5ε/steps)."""
    import torchattacks

    from nnsafety.attacks import pgd

    print(f"\n### Early-stop PGD-{steps} L∞ vs torchattacks PGD, α=2.5ε/{steps}, {title}, {len(y)} points, "
          f"{torch.get_num_threads()} thread(s), {repeats} alternating runs (+1 warm-up), medians of "
          "per-run CPU-time ratios (wall)\n")
    print("| ε | robust acc torchattacks | robust acc ours fixed / early stop | robust rows (bound) | work = ideal | "
          "early stop / ideal replay | early stop / torchattacks | ideal replay / torchattacks |")
    print("|---|---|---|---|---|---|---|---|")
    for eps in eps_list:
        alpha = 2.5 * eps / steps
        ta = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
        out = {}

        def ours():
            out["es"] = pgd(model, x, y, eps, steps=steps, step_size=alpha, early_stop=True,
                            generator=torch.Generator().manual_seed(0))
        sizes = batch_sizes(model, ours)
        t = clocks({"es": ours, "ideal": replay(model, x, y, sizes),
                    "ta": lambda: out.__setitem__("ta", ta(x, y))}, repeats, 1)
        work = sum(sizes) / (len(y) * steps)
        robust_rows = sizes[-1] / len(y) if len(sizes) == steps else 0.0
        c = {k: v[1] for k, v in t.items()}
        w = {k: v[0] for k, v in t.items()}
        fixed = pgd(model, x, y, eps, steps=steps, step_size=alpha, generator=torch.Generator().manual_seed(0))
        print(f"| {eps:g} | {acc(model, out['ta'], y):.4f} | {acc(model, fixed, y):.4f} / {acc(model, out['es'], y):.4f} | "
              f"{robust_rows:.3f} | {work:.3f} | {paired(c['es'], c['ideal']):.3f}× ({paired(w['es'], w['ideal']):.3f}×) | "
              f"**{paired(c['es'], c['ta']):.2f}×** ({paired(w['es'], w['ta']):.2f}×) | "
              f"{paired(c['ideal'], c['ta']):.2f}× ({paired(w['ideal'], w['ta']):.2f}×) |")
        sys.stdout.flush()


def overhead_table(steps=200, repeats=9):
    """Attack-side cost per step (sign, step, projection, loss, guard) on a tiny linear model."""
    import torchattacks

    from nnsafety.attacks import pgd

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    x, y = torch.rand(450, 1, 8, 8), torch.randint(0, 10, (450,))
    ta = torchattacks.PGD(model, eps=0.1, alpha=0.01, steps=steps)
    t = clocks({FLOOR: floor(model, x, y, steps),
                "nnsafety pgd": lambda: pgd(model, x, y, 0.1, steps=steps, step_size=0.01),
                TA: lambda: ta(x, y)}, repeats, 1)
    torch.set_num_threads(threads)
    print(f"\n### Per-step cost on a 64→10 linear model, 450 points, 1 thread "
          f"(CPU µs / step, median of {repeats})\n")
    print("| run | µs / step | attack-side µs / step (− floor) |")
    print("|---|---|---|")
    for name, (_, c) in t.items():
        c, f = statistics.median(c), statistics.median(t[FLOOR][1])
        print(f"| {name} | {c / steps * 1e6:.0f} | {(c - f) / steps * 1e6:.0f} |")


def autoattack_table(model, x, y, eps):
    import torchattacks

    from nnsafety.attacks import autoattack

    w0, c0 = time.perf_counter(), time.process_time()
    ours = autoattack(model, x, y, eps, "Linf", progress=False, checks=False, warn=False)
    ow, oc = time.perf_counter() - w0, time.process_time() - c0
    ta = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
    w0, c0 = time.perf_counter(), time.process_time()
    adv = ta(x, y)
    tw, tc = time.perf_counter() - w0, time.process_time() - c0
    print(f"\n### AutoAttack standard L∞ ε={eps}, digits cnn, {len(y)} test images (one run each)\n")
    print("| run | robust acc | CPU s | wall s |")
    print("|---|---|---|---|")
    print(f"| nnsafety autoattack (APGD 100 it., 9 targets, FAB-T, Square 5000 q.; checks off) | "
          f"{ours.robust_accuracy:.4f} | {oc:.1f} | {ow:.1f} |")
    print(f"| torchattacks AutoAttack (its defaults) | {acc(model, adv, y):.4f} | {tc:.1f} | {tw:.1f} |")
    comps = ", ".join(f"{c} {a:.4f} ({s:.1f} s)" for c, a, s in
                      zip(ours.components, ours.robust_accuracy_after, ours.seconds))
    print(f"\nnnsafety components (robust accuracy after each, wall s): {comps}")


def cifar_batch(n, width):
    """An untrained preact_resnet18 and a uniform-noise CIFAR-shaped batch labelled by the net itself."""
    from nnsafety.models import create_model

    torch.manual_seed(0)
    net = create_model("preact_resnet18", 10, (3, 32, 32), width=width).eval()
    xc = torch.rand(n, 3, 32, 32)
    with torch.no_grad():
        yc = net(xc).argmax(1)  # every point starts correctly classified
    return net, xc, yc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--out", default="/tmp/nnsafety_bench_attacks")
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is "
                    "the least disturbed by other processes on a shared machine")
    ap.add_argument("--cifar-n", type=int, default=256, help="preact_resnet18 batch (0: skip)")
    ap.add_argument("--cifar-width", type=int, default=64, help="64 as in the paper")
    ap.add_argument("--cifar-repeats", type=int, default=5)
    ap.add_argument("--cifar-warmup", type=int, default=1)
    ap.add_argument("--cifar-no-early-stop", action="store_true",
                    help="skip the early-stop row (nothing flips on the untrained net: work 1.0)")
    ap.add_argument("--aa-n", type=int, default=100, help="digits test points for AutoAttack (0: skip)")
    ap.add_argument("--only", choices=["all", "early-stop", "autoattack", "agreement"], default="all",
                    help="early-stop: only the early-stop-vs-ε tables (digits, then preact if --cifar-n)")
    ap.add_argument("--es-eps", default="0.05,0.1,0.2", help="ε list of the early-stop table")
    args = ap.parse_args()
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        if not Path(args.peer_python).exists():
            sys.exit(f"torchattacks is not importable and {args.peer_python} is missing: run `make bench-setup`")
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        sys.exit(subprocess.run([args.peer_python, __file__, *sys.argv[1:]], env=env).returncode)
    import torchattacks

    from nnsafety.data import load_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; torchattacks {torchattacks.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    model = train_digits_cnn(Path(args.out) / "digits_cnn.safetensors")
    x, y = load_dataset("digits", split="test").tensors()
    print(f"digits cnn (width 32) clean accuracy {acc(model, x, y):.4f} on {len(y)} test images")
    es_eps = [float(e) for e in args.es_eps.split(",")]
    if args.only == "early-stop":
        early_stop_table(model, x, y, es_eps, args.repeats)
        if args.cifar_n:
            net, xc, yc = cifar_batch(args.cifar_n, args.cifar_width)
            early_stop_table(net, xc, yc, [8 / 255], args.cifar_repeats,
                             title=f"preact_resnet18 width {args.cifar_width} (untrained)")
        return
    if args.only == "agreement":
        agreement_table(model, x, y, es_eps)
        return
    if args.only == "autoattack":
        autoattack_table(model, x[:args.aa_n], y[:args.aa_n], args.eps)
        return
    overhead_table()
    eps = args.eps
    for alpha, why in ((0.01, "α=0.01"), (2.5 * eps / 20, "α=2.5ε/steps (library default)")):
        pgd_table(f"PGD-20 L∞ ε={eps}, {why}, digits cnn, {len(y)} images", model, x, y, eps, alpha, 20,
                  args.repeats, 1)
    agreement_table(model, x, y, es_eps)
    early_stop_sweep(model, x, y, [0.05, 0.1, 0.15, 0.2, 0.3])
    early_stop_table(model, x, y, es_eps, args.repeats)
    if args.aa_n:
        autoattack_table(model, x[:args.aa_n], y[:args.aa_n], eps)
    if args.cifar_n:
        net, xc, yc = cifar_batch(args.cifar_n, args.cifar_width)
        pgd_table(f"PGD-20 L∞ ε=8/255, α=2/255, preact_resnet18 width {args.cifar_width} (untrained), "
                  f"{args.cifar_n}×3×32×32", net, xc, yc, 8 / 255, 2 / 255, 20, args.cifar_repeats,
                  args.cifar_warmup, with_early_stop=not args.cifar_no_early_stop)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
