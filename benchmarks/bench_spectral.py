"""nnsafety.metrics.spectral vs WeightWatcher 0.7.7: α agreement per layer, and analysis time.

Run in the bench venv (torch 2.13 CPU + weightwatcher==0.7.7):
    OMP_WAIT_POLICY=PASSIVE <bench-venv>/bin/python benchmarks/bench_spectral.py [--big]
α agreement on digits models (trained MLP, briefly trained CNN, random init); with ``--big``, wall
time of ``analyze()`` vs ``spectral_analysis`` on full-width preact_resnet18 and WRN-28-10 (random
init), alternating in one process, median of ``--reps N`` (default 3; 1 with --quick) wall and CPU
(process) times; ``--only wide_resnet`` restricts the models. Layers are matched by module order.
"""
from __future__ import annotations

import logging
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import weightwatcher as ww  # noqa: E402

from nnsafety.data import load_dataset  # noqa: E402
from nnsafety.metrics.spectral import spectral_analysis  # noqa: E402
from nnsafety.models import create_model  # noqa: E402

logging.getLogger("weightwatcher").setLevel(logging.ERROR)


def trained(name, steps, **kw):
    x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(0)
    m = create_model(name, 10, (1, 8, 8), **kw)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (128,))
        loss = F.cross_entropy(m(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def agreement():
    torch.manual_seed(0)
    models = {"mlp (trained 300 steps)": trained("mlp", 300), "cnn (trained 100 steps)": trained("cnn", 100),
              "mlp (random init)": create_model("mlp", 10, (1, 8, 8)),
              "cnn (random init)": create_model("cnn", 10, (1, 8, 8))}
    print("| model | layers compared | max abs α difference | mean α ours | mean α WW |")
    print("|---|---|---|---|---|")
    for name, m in models.items():
        df = ww.WeightWatcher(model=m).analyze()
        ours = spectral_analysis(m, traps=False)
        a_ww = df["alpha"].tolist()
        a_ours = [r.alpha for r in ours.layers]
        assert len(a_ww) == len(a_ours), (a_ww, a_ours)
        diff = max(abs(a - b) for a, b in zip(a_ww, a_ours))
        print(f"| {name} | {len(a_ours)} | {diff:.2e} | {ours.mean_alpha:.3f} | {sum(a_ww) / len(a_ww):.3f} |")


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def timing(reps, only=None):
    specs = [("preact_resnet18", {}), ("wide_resnet", {"depth": 28, "widen_factor": 10})]
    print("\n| model | layers (ours / WW) | WW analyze() s wall (CPU) | ours s, traps off | ratio wall (CPU) "
          "| ours s, traps on | ratio wall (CPU) | max abs Δα |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kw in specs:
        if only and name not in only:
            continue
        torch.manual_seed(0)
        m = create_model(name, 10, (3, 32, 32), **kw).eval()
        t_ww, t_ours, t_traps = [], [], []
        for _ in range(reps):  # alternating, same process
            df, w, c = _timed(lambda: ww.WeightWatcher(model=m).analyze())
            t_ww.append((w, c))
            r, w, c = _timed(lambda: spectral_analysis(m, traps=False, keep_eigenvalues=False))
            t_ours.append((w, c))
            _, w, c = _timed(lambda: spectral_analysis(m, traps=True, keep_eigenvalues=False))
            t_traps.append((w, c))
        (a, ac), (b, bc), (c, cc) = ((statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
                                     for ts in (t_ww, t_ours, t_traps))
        n_alpha = max(abs(x - y) for x, y in zip(df["alpha"].tolist(), [q.alpha for q in r.layers])) \
            if len(df) == len(r.layers) else float("nan")
        print(f"| {name} {kw or ''} | {len(r.layers)} (+{len(r.skipped)} skipped w/ reason) / {len(df)} | "
              f"{a:.2f} ({ac:.2f}) | {b:.2f} ({bc:.2f}) | {b / a:.3f} ({bc / ac:.3f}) | {c:.2f} ({cc:.2f}) | "
              f"{c / a:.3f} ({cc / ac:.3f}) | {n_alpha:.1e} |", flush=True)


if __name__ == "__main__":
    print(f"torch {torch.__version__}, weightwatcher {ww.__version__}, threads {torch.get_num_threads()}")
    agreement()
    if "--big" in sys.argv:
        reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 3
        only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
        timing(1 if "--quick" in sys.argv else reps, only)
