"""nnsafety.metrics.hessian vs PyHessian 0.1 on a converged digits MLP (full train set, one batch).

Run in the bench venv (torch 2.13 CPU + pyhessian==0.1):
    OMP_WAIT_POLICY=PASSIVE <bench-venv>/bin/python benchmarks/bench_hessian.py
Reference: dense float64 Hessian (torch.autograd.functional.hessian) + torch.linalg.eigvalsh.
Both sides run alternately in the same process, median of 3 wall times; HVPs are counted by
wrapping each library's HVP function.
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
    return torch.linalg.eigvalsh(H).flip(0), float(H.trace())


class Counter:
    def __init__(self):
        self.n = 0
        orig = ph.hessian_vector_product

        def counted(*a, **k):
            self.n += 1
            return orig(*a, **k)

        ph.hessian_vector_product = counted


def main():
    model, x, y = converged_mlp()
    ev, tr = dense_spectrum(model, x, y)
    top = ev[:5]
    print(f"exact top-5 {[round(v, 5) for v in top.tolist()]}, trace {tr:.5f}")
    counter = Counter()
    rows = {k: [] for k in ("ph_eig", "our_eig", "ph_tr", "our_tr")}
    res = {}
    for rep in range(3):
        torch.manual_seed(rep)
        counter.n = 0
        t0 = time.perf_counter()
        h = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        vals, _ = h.eigenvalues(maxIter=100, tol=1e-3, top_n=5)
        rows["ph_eig"].append(time.perf_counter() - t0)
        res["ph_eig"] = (sorted(vals, reverse=True), counter.n)
        t0 = time.perf_counter()
        r = ours.hessian_eigenvalues(model, F.cross_entropy, (x, y), k=5, seed=rep)
        rows["our_eig"].append(time.perf_counter() - t0)
        res["our_eig"] = (r.eigenvalues, r.n_hvp)
        counter.n = 0
        t0 = time.perf_counter()
        h = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
        trs = h.trace(maxIter=100, tol=1e-3)
        rows["ph_tr"].append(time.perf_counter() - t0)
        res["ph_tr"] = (float(sum(trs) / len(trs)), counter.n)
        t0 = time.perf_counter()
        t = ours.hessian_trace(model, F.cross_entropy, (x, y), n_hvp=40, seed=rep)
        rows["our_tr"].append(time.perf_counter() - t0)
        res["our_tr"] = (t.estimate, t.n_hvp)
        # error statistics per repetition
        for key in ("ph_eig", "our_eig"):
            v = torch.tensor(res[key][0], dtype=torch.float64)
            res.setdefault(key + "_err", []).append(float(((v - top).abs() / top).max()))
        for key in ("ph_tr", "our_tr"):
            res.setdefault(key + "_err", []).append(abs(res[key][0] - tr) / tr)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print("\n| task | library | HVPs (last run) | max rel. error (3 seeds) | median time s | ratio ours/PyHessian |")
    print("|---|---|---|---|---|---|")
    for task, a, b in (("top-5 eigenvalues", "ph_eig", "our_eig"), ("trace", "ph_tr", "our_tr")):
        print(f"| {task} | PyHessian 0.1 | {res[a][1]} | {max(res[a + '_err']):.2e} | {med[a]:.3f} | |")
        print(f"| {task} | nnsafety | {res[b][1]} | {max(res[b + '_err']):.2e} | {med[b]:.3f} | "
              f"{med[b] / med[a]:.2f} |")


if __name__ == "__main__":
    main()
