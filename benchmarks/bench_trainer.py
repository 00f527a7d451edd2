"""Trainer overhead: steps/s of nnsafety's ERM loop vs a bare hand-written PyTorch loop.

Same model, data, batch size, optimizer (SGD + Nesterov), per-step cosine learning rate and
per-epoch random permutation on both sides; both run in this process, alternating, median of 5,
timed by wall clock and by this process's CPU time (the steadier figure on a shared machine).
nnsafety runs once without a run directory (the loop itself) and once writing one (weights,
metrics and a checkpoint every epoch). Goal: ratio <= 1.10.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, paired_medians  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nnsafety.data import load_dataset  # noqa: E402
from nnsafety.runs import build_model  # noqa: E402
from nnsafety.train import TrainConfig, Trainer  # noqa: E402
from nnsafety.train.schedule import learning_rate  # noqa: E402

EPOCHS = 5


def bare_loop(cfg: TrainConfig, spec: dict, train_set) -> int:
    torch.manual_seed(cfg.seed)
    model = build_model(spec)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    x_all, y_all = train_set.tensors()
    n, steps = x_all.shape[0], 0
    total = EPOCHS * ((n + cfg.batch_size - 1) // cfg.batch_size)
    model.train()
    for epoch in range(EPOCHS):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        for idx in perm.split(cfg.batch_size):
            for g in opt.param_groups:
                g["lr"] = learning_rate(steps, total, cfg.lr)
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    return steps


def main() -> None:
    train_set = load_dataset("digits")
    test_set = load_dataset("digits", split="test")
    print(f"# trainer overhead, digits, {EPOCHS} epochs, batch 128 — {machine()}")
    print("| model | clock | bare loop steps/s | nnsafety steps/s | ratio (time) | nnsafety + run dir steps/s | ratio (time) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model in ("cnn", "mlp"):
        cfg = TrainConfig(model=model, epochs=EPOCHS, eval_every=EPOCHS)
        tmp = Path(tempfile.mkdtemp())
        spec = Trainer(cfg, train_set=train_set, test_set=test_set, progress=False).model_spec
        steps = bare_loop(cfg, spec, train_set)
        counter = iter(range(10**6))
        for clock in ("wall", "cpu"):
            med = paired_medians({
                "bare": lambda: bare_loop(cfg, spec, train_set),
                "nnsafety": lambda: Trainer(cfg, train_set=train_set, test_set=test_set, progress=False).fit(),
                "nnsafety+dir": lambda: Trainer(cfg, out=tmp / f"r{next(counter)}", train_set=train_set,
                                                test_set=test_set, progress=False).fit(),
            }, clock=clock)
            b, s, d = (steps / med[k] for k in ("bare", "nnsafety", "nnsafety+dir"))
            print(f"| {model} | {clock} | {b:.1f} | {s:.1f} | {med['nnsafety'] / med['bare']:.3f} | {d:.1f} | "
                  f"{med['nnsafety+dir'] / med['bare']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
