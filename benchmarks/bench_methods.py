"""Time per training step of every robust training method relative to ERM.

One step = ``method.loss`` + backward + SGD step on one fixed batch, the same model weights for
every method (a fresh copy each), alternating order, median of ``--repeats``. Two settings: the
digits ``cnn`` (width 32, batch 128 of 1×8×8) and a CIFAR-shaped ``preact_resnet18`` batch
(3×32×32; batch and width are flags because a 2-core CPU cannot time width 64 × batch 128 quickly).
Goals (issue 5): noisymix ≤ 3.3× erm, augmix ≤ 3.2×, pgd_at with k steps ≤ (k+1)·1.1×.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_methods.py --setting digits
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_methods.py --setting cifar --batch 32 --width 16
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, paired_medians  # noqa: E402

import torch  # noqa: E402

from nnsafety.data import load_dataset  # noqa: E402
from nnsafety.models import create_model  # noqa: E402
from nnsafety.train.methods import StepContext, create_method, list_methods  # noqa: E402

GOALS = {"noisymix": 3.3, "augmix": 3.2}


def paired_cpu_medians(candidates, repeats: int, warmup: int = 1):
    """Like ``paired_medians`` but on this process's CPU time (steadier on a loaded shared machine)."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {n: [] for n in candidates}
    names = list(candidates)
    for r in range(repeats):
        for n in names if r % 2 == 0 else reversed(names):
            t0 = time.process_time()
            candidates[n]()
            times[n].append(time.process_time() - t0)
    return {n: statistics.median(t) for n, t in times.items()}


def make_step(name: str, model0, x, y, num_classes: int, steps_per_call: int):
    model = copy.deepcopy(model0).train()
    method = create_method(name)
    method.check(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    ctx = StepContext(model, torch.Generator().manual_seed(0), num_classes)

    def step():
        for _ in range(steps_per_call):
            loss = method.loss(model, x, y, ctx).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", choices=("digits", "cifar"), default="digits")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=None, help="training steps per timed call")
    p.add_argument("--methods", nargs="*", default=None)
    p.add_argument("--json", type=str, default=None)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: process CPU time, steadier when other jobs share the machine")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    if a.setting == "digits":
        x, y = load_dataset("digits", split="train").tensors()
        x, y = x[: a.batch], y[: a.batch]
        model = create_model("cnn", 10, (1, 8, 8), width=a.width or 32)
        steps = a.steps or 5
    else:
        x, y = torch.rand(a.batch, 3, 32, 32), torch.randint(0, 10, (a.batch,))
        model = create_model("preact_resnet18", 10, (3, 32, 32), width=a.width or 64)
        steps = a.steps or 1
    names = a.methods or list_methods()
    if "erm" not in names:
        names = ["erm"] + names
    cands = {n: make_step(n, model, x, y, 10, steps) for n in names}
    timer = paired_medians if a.clock == "wall" else paired_cpu_medians
    med = timer(cands, repeats=a.repeats, warmup=1)
    erm = med["erm"]
    label = f"{a.setting}: {'cnn' if a.setting == 'digits' else 'preact_resnet18'} width {a.width or (32 if a.setting == 'digits' else 64)}, batch {tuple(x.shape)}"
    print(f"# {label}; {machine()}; median of {a.repeats}, {steps} step(s) per call, {a.clock} clock")
    print("| method | ms/step | × erm | goal |")
    print("|---|---:|---:|---|")
    rows = {}
    for n in names:
        ratio = med[n] / erm
        m = create_method(n)
        goal = GOALS.get(n)
        if n in ("pgd_at", "trades", "augmix_at"):
            goal = (m.steps + 1) * 1.1
        elif n == "fast_at":
            goal = 2 * 1.1
        verdict = "" if goal is None else f"≤ {goal:.1f}× {'met' if ratio <= goal else 'MISSED'}"
        rows[n] = {"ms_per_step": 1000 * med[n] / steps, "ratio": ratio, "goal": goal}
        print(f"| {n} | {1000 * med[n] / steps:.1f} | {ratio:.2f} | {verdict} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"setting": label, "machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
