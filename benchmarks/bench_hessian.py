"""nnsafety.metrics.hessian vs PyHessian 0.1 on a converged digits MLP (full train set, one batch).

Run in the bench venv (torch 2.13 CPU + pyhessian==0.1):
    OMP_WAIT_POLICY=PASSIVE <bench-venv>/bin/python benchmarks/bench_hessian.py
Reference: dense float64 Hessian (torch.autograd.functional.hessian) + torch.linalg.eigvalsh.
Both sides run alternately in the same process, median of ``--reps`` (default 7) wall and CPU
(process) times; HVPs are counted by wrapping PyHessian's HVP function (ours reports its own).
PyHessian's trace stops on its own tolerance, so its HVP count varies by seed: all are printed.
"""
from __future__ import annotations

import copy
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.func import functional_call  # noqa: E402

import pyhessian  # noqa: E402,F401
from nnsafety.data import load_dataset  # noqa: E402
from nnsafety.metrics import hessian as ours  # noqa: E402
from nnsafety.models import create_model  # noqa: E402

ph = sys.modules["pyhessian.hessian"]  # the package re-exports the class under the module's name


def converged_mlp(width=32, steps=2000):
    x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(0)
    model = create_model("mlp", 10, (1, 8, 8), width=width, depth=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"trained: {sum(p.numel() for p in model.parameters())} params, final loss {loss.item():.2e}")
    return model.eval(), x, y


def dense_spectrum(model, x, y):
    md = copy.deepcopy(model).double()
    names = [k for k, _ in md.named_parameters()]
    shapes = [p.shape for p in md.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in md.parameters()])

    def loss(v):
        ps, i = {}, 0
        for k, s in zip(names, shapes):
            ps[k] = v[i:i + s.numel()].view(s)
            i += s.numel()
        return F.cross_entropy(functional_call(md, ps, (x.double(),)), y)

    H = torch.autograd.functional.hessian(loss, flat, vectorize=True)
    return torch.linalg.eigvalsh(H).flip(0), float(H.trace()), H


def trace_accuracy(H, ev, tr, budget=40, seeds=300):
    """Trace error over many seeds with the dense H as the operator (no HVP cost), per block size,
    and the oracle bound: exact top-r eigenvectors for free + Rademacher Hutchinson on the rest."""
    from nnsafety.metrics import _lanczos

    a = ev.abs().sort(descending=True).values
    bound = min(float((2 / (budget - r)) ** 0.5 * a[r:].norm()) / tr for r in range(budget))
    print(f"\noracle: deflating the exact top-r eigenvectors and spending the other {budget} - r HVPs "
          f"on Hutchinson gives an error sd >= {bound:.2%} for every r")
    like = torch.empty(0, dtype=torch.float64)
    print(f"| block | rms error | p90 | p99 | max | seeds above 1 % |  ({seeds} seeds, {budget} HVPs)\n|---|---|---|---|---|---|")
    for block in (1, 2, 6):
        e = torch.tensor([abs(_lanczos.krylov_hutchpp(lambda v: v @ H, H.shape[0], budget, like,
                                                      torch.Generator().manual_seed(s), block=block)[0] - tr) / tr
                          for s in range(seeds)])
        q = e.sort().values
        print(f"| {block} | {e.pow(2).mean().sqrt():.2%} | {q[int(0.9 * seeds)]:.2%} | {q[int(0.99 * seeds)]:.2%} | "
              f"{q[-1]:.2%} | {(e > 0.01).double().mean():.1%} |")


class Counter:
    def __init__(self):
        self.n = 0
        orig = ph.hessian_vector_product

        def counted(*a, **k):
            self.n += 1
            return orig(*a, **k)

        ph.hessian_vector_product = counted


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(reps: int = 7):
    model, x, y = converged_mlp()
    ev, tr, H = dense_spectrum(model, x, y)
    top = ev[:5]
    print(f"exact top-5 {[round(v, 5) for v in top.tolist()]}, trace {tr:.5f}")
    counter = Counter()
    ce = torch.nn.CrossEntropyLoss()

    def ph_eig():
        h = ph.hessian(model, ce, data=(x, y), cuda=False)
        return sorted(h.eigenvalues(maxIter=100, tol=1e-3, top_n=5)[0], reverse=True)

    def ph_tr():
        h = ph.hessian(model, ce, data=(x, y), cuda=False)
        trs = h.trace(maxIter=100, tol=1e-3)
        return float(sum(trs) / len(trs))

    runs = {k: [] for k in ("ph_eig", "our_eig", "ph_tr", "our_tr")}  # (value, wall, cpu, hvps, err)
    for rep in range(reps):
        torch.manual_seed(rep)
        counter.n = 0
        v, w, c = _timed(ph_eig)
        runs["ph_eig"].append((v, w, c, counter.n))
        r, w, c = _timed(lambda: ours.hessian_eigenvalues(model, F.cross_entropy, (x, y), k=5, seed=rep))
        runs["our_eig"].append((r.eigenvalues, w, c, r.n_hvp))
        torch.manual_seed(rep)
        counter.n = 0
        v, w, c = _timed(ph_tr)
        runs["ph_tr"].append((v, w, c, counter.n))
        t, w, c = _timed(lambda: ours.hessian_trace(model, F.cross_entropy, (x, y), n_hvp=40, seed=rep))
        runs["our_tr"].append((t.estimate, w, c, t.n_hvp))

    def err(key, v):
        if key.endswith("eig"):
            return float(((torch.tensor(v, dtype=torch.float64) - top).abs() / top).max())
        return abs(v - tr) / tr

    med = {k: (statistics.median(r[1] for r in rs), statistics.median(r[2] for r in rs)) for k, rs in runs.items()}
    print(f"\n| task | library | HVPs per run ({reps} seeds) | rel. error: median / max | median wall s | "
          "median CPU s | ratio ours/PyHessian wall (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for task, a, b in (("top-5 eigenvalues", "ph_eig", "our_eig"), ("trace", "ph_tr", "our_tr")):
        for key, lib in ((a, "PyHessian 0.1"), (b, "nnsafety")):
            errs = [err(key, r[0]) for r in runs[key]]
            hv = sorted(r[3] for r in runs[key])
            hv_s = f"{hv[0]}" if hv[0] == hv[-1] else f"{hv[0]}–{hv[-1]} (median {statistics.median(hv):g})"
            ratio = "" if key == a else f"{med[b][0] / med[a][0]:.2f} ({med[b][1] / med[a][1]:.2f})"
            print(f"| {task} | {lib} | {hv_s} | {statistics.median(errs):.1e} / {max(errs):.1e} | "
                  f"{med[key][0]:.3f} | {med[key][1]:.3f} | {ratio} |")
    trace_accuracy(H, ev, tr)


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 7)
