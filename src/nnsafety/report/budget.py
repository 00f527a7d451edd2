"""How much work an audit does: the ``quick``, ``standard`` and ``thorough`` presets.

One flat dataclass so that every number a section uses is visible in one place and recorded in the
safety card (``Budget.to_dict()``). ``quick`` is sized to finish on a digits model in well under a
minute on a 2-core CPU (small samples, 3 severities, PGD only, a few dozen Hessian-vector
products); ``thorough`` runs AutoAttack (standard version) and the full Hessian spectral density.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple, Union

QUICK_CORRUPTIONS = ["gaussian_noise", "impulse_noise", "defocus_blur", "motion_blur", "fog",
                     "contrast", "pixelate", "jpeg_compression"]


@dataclass
class Budget:
    """Sample sizes and iteration counts for every section (units in the field comments)."""

    name: str = "custom"
    n_eval: Optional[int] = None  # clean accuracy / calibration: images (None = all)
    # corruptions
    corruptions: Optional[List[str]] = None  # None = all 19
    severities: Tuple[int, ...] = (1, 2, 3, 4, 5)
    n_corruption: Optional[int] = None  # images per corruption and severity (None = all)
    # attacks (ε in pixel units of [0, 1] inputs, L∞)
    n_attack: int = 200
    pgd_steps: int = 20
    eps_list: Tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)
    autoattack: Optional[str] = None  # None = PGD only; "standard" / "plus" = the AutoAttack version
    autoattack_components: Optional[List[str]] = None  # a cheaper subset of components, else the version's
    n_sanity: int = 200  # points for the sanity checks (ε-growth runs PGD-20 on them)
    # noise response
    noise_families: Tuple[str, ...] = ("gaussian",)
    noise_levels: int = 11
    n_noise: int = 450
    # Hessian / loss landscape (on n_hessian training-style samples of the test set)
    n_hessian: int = 256
    lanczos_k: int = 1
    lanczos_iter: int = 20
    trace_hvp: int = 10
    density_runs: int = 1
    density_steps: int = 16
    landscape_steps: int = 7  # points per axis of the 2-D grid
    landscape_span: float = 1.0
    # decision boundary
    plane_resolution: int = 41
    n_margin: int = 100
    margin_directions: int = 4  # random directions per input (plus one adversarial)
    # backdoor scan
    detectors: Tuple[str, ...] = ("noise_response", "weights", "neural_cleanse")
    nc_steps: int = 40
    n_clean: int = 100  # clean samples handed to Neural Cleanse (classic mode)
    # noise_response's reference meta-classifier: a packaged name ("digits") or a --fit-meta JSON;
    # None = the unsupervised score. Only for models of the reference's data and training recipe.
    noise_meta: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


PRESETS: Dict[str, Budget] = {
    "quick": Budget(
        name="quick", n_eval=None, corruptions=QUICK_CORRUPTIONS, severities=(1, 3, 5), n_corruption=250,
        n_attack=150, pgd_steps=10, eps_list=(0.05, 0.1, 0.2), autoattack=None, n_sanity=64,
        noise_families=("gaussian",), noise_levels=11, n_noise=300,
        n_hessian=64, lanczos_k=1, lanczos_iter=10, trace_hvp=6, density_runs=1, density_steps=10,
        landscape_steps=5, plane_resolution=31, n_margin=50, margin_directions=2,
        nc_steps=30,
    ),
    "standard": Budget(
        name="standard", corruptions=None, severities=(1, 2, 3, 4, 5), n_attack=450, pgd_steps=20,
        eps_list=(0.01, 0.02, 0.05, 0.1, 0.2), autoattack="standard", autoattack_components=["apgd-ce", "apgd-t"],
        n_sanity=300, noise_families=("gaussian", "uniform", "salt_and_pepper", "contrast"), noise_levels=21,
        n_noise=450, n_hessian=450, lanczos_k=5, lanczos_iter=60, trace_hvp=30, density_runs=2, density_steps=40,
        landscape_steps=15, plane_resolution=81, n_margin=200, margin_directions=10, nc_steps=100,
    ),
    "thorough": Budget(
        name="thorough", corruptions=None, severities=(1, 2, 3, 4, 5), n_attack=450, pgd_steps=50,
        eps_list=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3), autoattack="standard", autoattack_components=None,
        n_sanity=450, noise_families=("gaussian", "uniform", "salt_and_pepper", "contrast"), noise_levels=31,
        n_noise=450, n_hessian=450, lanczos_k=10, lanczos_iter=100, trace_hvp=60, density_runs=3, density_steps=80,
        landscape_steps=21, plane_resolution=101, n_margin=450, margin_directions=20, nc_steps=150,
    ),
}


def get_budget(budget: Union[str, Budget], **overrides: Any) -> Budget:
    """A preset by name (``quick``/``standard``/``thorough``) or a ``Budget`` as is, with overrides."""
    if isinstance(budget, Budget):
        base = budget
    elif isinstance(budget, str) and budget in PRESETS:
        base = PRESETS[budget]
    else:
        raise ValueError(f"expected budget one of {', '.join(PRESETS)} or a Budget, got {budget!r}")
    unknown = sorted(set(overrides) - set(Budget.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown budget field(s) {', '.join(unknown)}; expected some of: "
                         f"{', '.join(sorted(Budget.__dataclass_fields__))}")
    if overrides and "name" not in overrides:
        overrides["name"] = f"{base.name} (modified)"  # the card must not claim an unmodified preset
    return replace(base, **overrides) if overrides else base
