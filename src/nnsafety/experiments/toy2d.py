"""The decision-boundary toy: an MLP on noisy two moons trained with seven methods.

Reference (NoisyMix paper, a similar toy): Baseline 86.8%, NFM 87.6%, Manifold Mixup + JSD
88.0%, NoisyMix 88.8%; the Bayes accuracy of our toy is ≈ 88.5%. Every method runs with its
published defaults and the same optimizer, schedule and epochs; nothing is tuned on the toy.
On 2-D inputs there are no AugMix image ops, so NoisyMix and Manifold Mixup + JSD use three
copies of x as their views (see ``train/methods/noisymix.py``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Optional, Sequence


from .._io import save_figure_atomic
from ..data import load_dataset
from ..train import TrainConfig, train
from ._tables import fmt, mean_std, write_table

TOY_METHODS: Dict[str, str] = {
    "erm": "Baseline", "noise": "Noise injection", "mixup": "Mixup", "manifold_mixup": "Manifold Mixup",
    "manifold_mixup_jsd": "Manifold Mixup + JSD", "nfm": "NFM", "noisymix": "NoisyMix",
}


def toy_config(method: str, seed: int, epochs: int, width: int, depth: int) -> TrainConfig:
    """The one recipe for every method: AdamW 3e-3, wd 5e-4, cosine, batch 100."""
    return TrainConfig(data="toy2d", model="mlp", model_kwargs={"width": width, "depth": depth}, method=method,
                       epochs=epochs, batch_size=100, optimizer="adamw", lr=3e-3, weight_decay=5e-4,
                       schedule="cosine", seed=seed, eval_every=epochs, device="cpu")


def plot_boundaries(panels, path: Path, title: str) -> None:
    """One panel per method: ``metrics.boundary.decision_boundary_2d`` regions with the test points."""
    from .._plot import pyplot
    from ..metrics.boundary import decision_boundary_2d

    plt = pyplot()  # Agg unless a display/backend is set up

    cols = 4
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows), squeeze=False)
    for ax, (label, model, x, y) in zip(axes.flat, panels):
        decision_boundary_2d(model, x, y, grid=200).plot(ax)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure_atomic(fig, path)  # 0644 under the umask, never half-written
    plt.close(fig)


def run_toy2d(out_dir, seeds: int = 5, epochs: int = 200, methods: Optional[Sequence[str]] = None,
              n: int = 1000, noise: float = 0.35, width: int = 128, depth: int = 3,
              progress: Optional[bool] = False) -> dict:
    """Train every toy method for ``seeds`` seeds (data seed = training seed); write
    ``toy2d_boundaries.png`` (seed 0 models), ``toy2d.md`` and ``toy2d.json`` into ``out_dir``.

    ``epochs`` of 10 steps (1000 points, batch 100), so 200 epochs = 2,000 Adam steps. Returns the
    JSON payload (per-method test accuracies per seed, mean, std, seconds).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(methods or TOY_METHODS)
    unknown = [m for m in names if m not in TOY_METHODS]
    if unknown or seeds < 1:
        raise ValueError(f"expected methods among {', '.join(TOY_METHODS)} and seeds >= 1, got {unknown}, {seeds}")
    results: Dict[str, dict] = {}
    panels = []
    for name in names:
        accs, secs = [], []
        for seed in range(seeds):
            tr = load_dataset("toy2d", split="train", n=n, noise=noise, seed=seed)
            te = load_dataset("toy2d", split="test", n=n, noise=noise, seed=seed)
            t0 = time.perf_counter()
            res = train(toy_config(name, seed, epochs, width, depth), train_set=tr, test_set=te, progress=progress)
            secs.append(time.perf_counter() - t0)
            accs.append(res.final["test_acc"])
            if seed == 0:
                panels.append((name, res.model, *te.tensors()))
        results[name] = {"label": TOY_METHODS[name], "test_acc": accs, "seconds": secs, **{
            k: v for k, v in mean_std(accs).items()}}
    summary = {m: results[m] for m in names}
    titled = [(f"{results[m]['label']}: {100 * results[m]['test_acc'][0]:.1f}%\n"
               f"({fmt(results[m])}% over {seeds} seeds)", model, x, y) for m, (_, model, x, y) in zip(names, panels)]
    plot_boundaries(titled, out / "toy2d_boundaries.png",
                    f"toy2d (n={n}, noise={noise}), MLP {depth}×{width}, seed-0 test data; title: seed-0 test acc")
    rows = [[results[m]["label"], f"`{m}`", fmt(results[m]) + " %",
             " / ".join(f"{100 * a:.1f}" for a in results[m]["test_acc"]),
             f"{sum(results[m]['seconds']) / seeds:.1f}"] for m in names]
    best = max(names, key=lambda m: results[m]["mean"])
    note = (f"Best mean: {results[best]['label']}. NoisyMix ≥ every other method: "
            f"{'yes' if all(results['noisymix']['mean'] >= results[m]['mean'] for m in names) else 'no'}."
            if "noisymix" in results else "")
    payload = {"config": {**toy_config("erm", 0, epochs, width, depth).to_dict(), "method": None, "seed": None,
                          "n": n, "noise": noise, "seeds": seeds}, "results": summary}
    write_table(out, "toy2d", ["method", "name", "test accuracy (mean ± std)", "per seed", "s / run"], rows,
                payload, note)
    return payload
