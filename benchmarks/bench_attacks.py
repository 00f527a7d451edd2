"""nnsafety attacks vs torchattacks 3.5.1: robust accuracy and time, same weights, same process.

PGD-20 L∞ on the digits cnn test set and on a CIFAR-shaped preact_resnet18 batch, against the floor
20 × (forward + input-gradient backward) of the bare model; early-stopping PGD; AutoAttack standard
(ours: the reference budgets) vs torchattacks' AutoAttack (APGD with 10 steps by default).
torchattacks lives in ``.venv-bench``; when it is not importable here the script re-runs itself
there (nnsafety is installed editable in that venv). Both sides load one safetensors file.

Run: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_attacks.py [--cifar-n 256]``
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, paired_medians  # noqa: E402  (sets OMP_WAIT_POLICY first)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


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


def floor(model, x, y, steps):
    """20 × (forward + CE + ∂/∂x) of the bare model: what any PGD must at least spend."""
    def run():
        for _ in range(steps):
            xr = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
    return run


def acc(model, xa, y):
    with torch.no_grad():
        return (model(xa).argmax(1) == y).float().mean().item()


def pgd_table(title, model, x, y, eps, alpha, steps, repeats, with_early_stop=True):
    import torchattacks

    from nnsafety.attacks import pgd

    ta = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    out = {}
    cands = {
        "floor 20×(fwd+bwd)": floor(model, x, y, steps),
        "nnsafety pgd (fixed steps)": lambda: out.__setitem__("ours", pgd(model, x, y, eps, steps=steps, step_size=alpha)),
        "torchattacks PGD": lambda: out.__setitem__("ta", ta(x, y)),
    }
    if with_early_stop:
        cands["nnsafety pgd early_stop"] = lambda: out.__setitem__(
            "es", pgd(model, x, y, eps, steps=steps, step_size=alpha, early_stop=True))
    t = paired_medians(cands, repeats=repeats, warmup=1 if repeats > 1 else 0)
    ra = {"nnsafety pgd (fixed steps)": acc(model, out["ours"], y), "torchattacks PGD": acc(model, out["ta"], y)}
    if with_early_stop:
        ra["nnsafety pgd early_stop"] = acc(model, out["es"], y)
    print(f"\n### {title}\n")
    print("| run | robust acc | median s | vs floor | vs torchattacks |")
    print("|---|---|---|---|---|")
    for name, sec in t.items():
        r = f"{ra[name]:.4f}" if name in ra else "—"
        print(f"| {name} | {r} | {sec:.3f} | {sec / t['floor 20×(fwd+bwd)']:.2f}× | "
              f"{sec / t['torchattacks PGD']:.2f}× |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--out", default="/tmp/nnsafety_bench_attacks")
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cifar-n", type=int, default=256)
    ap.add_argument("--cifar-repeats", type=int, default=3)
    ap.add_argument("--aa-n", type=int, default=450, help="digits test points for AutoAttack (0: skip)")
    args = ap.parse_args()
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        if not Path(args.peer_python).exists():
            sys.exit(f"torchattacks is not importable and {args.peer_python} is missing: run `make bench-setup`")
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        sys.exit(subprocess.run([args.peer_python, __file__, *sys.argv[1:]], env=env).returncode)
    import torchattacks

    from nnsafety.attacks import autoattack
    from nnsafety.data import load_dataset
    from nnsafety.models import create_model

    print(f"machine: {machine()}; torchattacks {torchattacks.__version__}")
    model = train_digits_cnn(Path(args.out) / "digits_cnn.safetensors")
    x, y = load_dataset("digits", split="test").tensors()
    print(f"digits cnn clean accuracy {acc(model, x, y):.4f} on {len(y)} test images")
    eps, alpha = args.eps, args.eps / 10
    pgd_table(f"PGD-20 L∞ ε={eps}, α={alpha}, digits cnn, {len(y)} images", model, x, y, eps, alpha, 20, args.repeats)

    if args.cifar_n:
        torch.manual_seed(0)
        net = create_model("preact_resnet18", 10, (3, 32, 32)).eval()
        xc = torch.rand(args.cifar_n, 3, 32, 32)
        with torch.no_grad():
            yc = net(xc).argmax(1)  # every point starts correctly classified
        pgd_table(f"PGD-20 L∞ ε=8/255, α=2/255, preact_resnet18 (untrained), {args.cifar_n}×3×32×32",
                  net, xc, yc, 8 / 255, 2 / 255, 20, args.cifar_repeats, with_early_stop=False)

    if args.aa_n:
        xa, ya = x[:args.aa_n], y[:args.aa_n]
        t0 = time.perf_counter()
        ours = autoattack(model, xa, ya, eps, "Linf", progress=False, warn=False)
        t_ours = time.perf_counter() - t0
        ta = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
        t0 = time.perf_counter()
        adv = ta(xa, ya)
        t_ta = time.perf_counter() - t0
        print(f"\n### AutoAttack standard L∞ ε={eps}, digits cnn, {len(ya)} images (one run each)\n")
        print("| run | robust acc | s |")
        print("|---|---|---|")
        comps = ", ".join(f"{c} {a:.4f} ({s:.0f} s)" for c, a, s in
                          zip(ours.components, ours.robust_accuracy_after, ours.seconds))
        print(f"| nnsafety autoattack (100 it., 9 targets, 5000 queries) | {ours.robust_accuracy:.4f} | {t_ours:.1f} |")
        print(f"| torchattacks AutoAttack (its defaults) | {acc(model, adv, ya):.4f} | {t_ta:.1f} |")
        print(f"\nnnsafety components: {comps}; failed checks: {[c.name for c in ours.failed_checks]}")


if __name__ == "__main__":
    main()
