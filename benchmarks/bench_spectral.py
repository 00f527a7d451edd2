"""nnsafety.metrics.spectral vs WeightWatcher 0.7.7: α agreement per layer, and analysis time.

Run in the bench venv (torch 2.13 CPU + weightwatcher==0.7.7):
    OMP_WAIT_POLICY=PASSIVE <bench-venv>/bin/python benchmarks/bench_spectral.py [--big]
α agreement on digits models (trained MLP, briefly trained CNN, random init); with ``--big``, wall
time of ``analyze()`` vs ``spectral_analysis`` on full-width preact_resnet18 and WRN-28-10 (random
init, and with ``--trained STEPS`` also after STEPS Adam steps on digits upscaled to 3×32×32),
alternating in one process, median of ``--reps N`` (default 3; 1 with --quick) wall and CPU
(process) times, both sides on one thread (torch and OpenBLAS); ``--only wide_resnet`` restricts
the models. Layers are matched by module order. The last column is our own float32-vs-float64
agreement (``precision="auto"`` vs ``"float64"``) on every layer.
"""
from __future__ import annotations

import logging
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # WeightWatcher's NumPy/SciPy: one thread like ours
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


def brief_training(m, steps):
    """``steps`` Adam steps (lr 1e-3, batch 16) on digits upscaled to 3×32×32: weights moved off init."""
    x, y = load_dataset("digits", split="train").tensors()
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    m.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (16,), generator=g)
        loss = F.cross_entropy(m(x[idx].contiguous()), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def timing(reps, only=None, trained=0):
    specs = [("preact_resnet18", {}), ("wide_resnet", {"depth": 28, "widen_factor": 10})]
    print("\n| model | weights | layers (ours / WW) | WW analyze() s wall (CPU) | ours s, traps off | ratio wall (CPU) "
          "| ours s, traps on | ratio wall (CPU) | max abs Δα vs WW | max abs Δα f32 vs f64 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, kw), steps in [(sp, st) for st in ([0, trained] if trained else [0]) for sp in specs]:
        if only and name not in only:
            continue
        torch.manual_seed(0)
        m = create_model(name, 10, (3, 32, 32), **kw).eval()
        if steps:
            torch.set_num_threads(2)
            t0 = time.perf_counter()
            brief_training(m, steps)
            print(f"(trained {name} {steps} steps in {time.perf_counter() - t0:.0f} s)", flush=True)
            torch.set_num_threads(1)
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
        r64 = spectral_analysis(m, traps=False, keep_eigenvalues=False, precision="float64")
        d64 = max(abs(p.alpha - q.alpha) for p, q in zip(r.layers, r64.layers))
        label = f"{steps} Adam steps" if steps else "random init"
        print(f"| {name} {kw or ''} | {label} | {len(r.layers)} (+{len(r.skipped)} skipped w/ reason) / {len(df)} | "
              f"{a:.2f} ({ac:.2f}) | {b:.2f} ({bc:.2f}) | {b / a:.3f} ({bc / ac:.3f}) | {c:.2f} ({cc:.2f}) | "
              f"{c / a:.3f} ({cc / ac:.3f}) | {n_alpha:.1e} | {d64:.1e} |", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, weightwatcher {ww.__version__}, threads {torch.get_num_threads()}")
    agreement()
    if "--big" in sys.argv:
        reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 3
        only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
        trained = int(sys.argv[sys.argv.index("--trained") + 1]) if "--trained" in sys.argv else 0
        timing(1 if "--quick" in sys.argv else reps, only, trained)
