"""Time a full noise-response sweep (30 levels × 1000 probes) on a digits MLP and CNN.

Run: OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_noise_response.py [--reps 5]
Goal (issue 7): ≤ 1 s per sweep on this CPU. Median of ``--reps`` runs after one warm-up, wall and
process CPU time (torch's default 2 threads). For each model also: the FLOPs of the 31,000 forward
passes (FlopCounterMode, 2 per multiply-add), the floor they imply at this core's measured matmul
rate (a 2048³ float32 matmul on one thread, CPU time), and the model's bare forward time over the
same 31,000 inputs (the part of the sweep that is the model's own compute).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from nnsafety.data import load_dataset  # noqa: E402
from nnsafety.metrics.noise_response import noise_response  # noqa: E402
from nnsafety.models import create_model  # noqa: E402


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


def timed(fn, reps):
    walls, cpus = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, statistics.median(walls), statistics.median(cpus)


def matmul_rate() -> float:
    """FLOP/s of one core (CPU time of a 2048³ float32 matmul on one thread, best of 3)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(timed(lambda: a @ b, 1)[2] for _ in range(3))
    torch.set_num_threads(old)
    return 2 * 2048 ** 3 / best


def main() -> None:
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 5
    xt, yt = load_dataset("digits", split="test").tensors()
    xt = xt.repeat(3, 1, 1, 1)[:1000]
    yt = yt.repeat(3)[:1000]
    rate = matmul_rate()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, one-core matmul {rate / 1e9:.0f} GFLOP/s")
    for name in ("mlp", "cnn"):
        model = train(name)
        with FlopCounterMode(display=False) as fc, torch.inference_mode():
            model(xt)
        flops = fc.get_total_flops() / xt.shape[0] * 31000
        big = xt.repeat(31, 1, 1, 1)
        with torch.inference_mode():
            _, fw, fcpu = timed(lambda: [model(big[i:i + 16384]) for i in range(0, big.shape[0], 16384)], reps)
        print(f"\n{name}: {flops / 1e9:.1f} GFLOP per sweep -> floor {flops / rate:.2f} CPU s "
              f"({flops / rate / 2:.2f} s wall on 2 cores); bare forward of 31,000 inputs: "
              f"{fw:.3f} s wall, {fcpu:.3f} s CPU")
        print("| model | family | probes | mode | median s wall | median s CPU | AUC (acc or conf) |")
        print("|---|---|---|---|---|---|---|")
        for family in ("gaussian", "salt_and_pepper", "blur", "contrast"):
            for mode in ("real", "data-free"):
                if family in ("blur", "contrast") and mode == "data-free":
                    continue  # a constant grey image is unchanged by blur and contrast
                kw = dict(x=xt, y=yt) if mode == "real" else dict(in_shape=(1, 8, 8))
                noise_response(model, family=family, n_probes=1000, **kw)  # warm-up
                r, w, c = timed(lambda: noise_response(model, family=family, n_probes=1000, **kw), reps)
                auc = r.accuracy_auc if r.accuracy_auc is not None else r.confidence_auc
                print(f"| {name} | {family} | 1000 × 30 levels | {mode} | {w:.3f} | {c:.3f} | {auc:.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
