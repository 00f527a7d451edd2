"""Time a full noise-response sweep (30 levels × 1000 probes) on a digits MLP and CNN.

Run: OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_noise_response.py
Goal (issue 7): ≤ 1 s per sweep on this CPU. Median of 5 runs after one warm-up.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from nnsafety.data import load_dataset
from nnsafety.metrics.noise_response import noise_response
from nnsafety.models import create_model


def train(name: str, steps: int = 200):
    x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(0)
    model = create_model(name, 10, (1, 8, 8))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (128,))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def main() -> None:
    xt, yt = load_dataset("digits", split="test").tensors()
    xt = xt.repeat(3, 1, 1, 1)[:1000]
    yt = yt.repeat(3)[:1000]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| model | family | probes | mode | median s (5 runs) | AUC (acc or conf) |")
    print("|---|---|---|---|---|---|")
    for name in ("mlp", "cnn"):
        model = train(name)
        for family in ("gaussian", "salt_and_pepper"):
            for mode in ("real", "data-free"):
                kw = dict(x=xt, y=yt) if mode == "real" else dict(in_shape=(1, 8, 8))
                noise_response(model, family=family, n_probes=1000, **kw)  # warm-up
                times = []
                for rep in range(5):
                    t0 = time.perf_counter()
                    r = noise_response(model, family=family, n_probes=1000, seed=rep, **kw)
                    times.append(time.perf_counter() - t0)
                auc = r.accuracy_auc if r.accuracy_auc is not None else r.confidence_auc
                print(f"| {name} | {family} | 1000 × 30 levels | {mode} | "
                      f"{statistics.median(times):.3f} | {auc:.3f} |")


if __name__ == "__main__":
    main()
