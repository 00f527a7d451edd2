"""FAB's hyperplane ∩ box projection against closed forms and a bisection reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnsafety.attacks.fab import project_hyperplane_box


def _bisect_reference(p, w, c, norm):
    """Minimal δ by bisection on the scalar r of δ_i = sgn·min(r·s_i, room_i) (no sorting)."""
    out = []
    for pi, wi, ci in zip(p.tolist(), w.tolist(), c.tolist()):
        pi, wi = np.array(pi), np.array(wi)
        sgn = 1.0 if ci >= 0 else -1.0
        wi_f, ci = wi * sgn, abs(ci)
        room = np.where(wi_f > 0, 1 - pi, pi)
        s = np.ones_like(wi) if norm == "Linf" else np.abs(wi)

        def delta(r):
            return np.sign(wi_f) * np.minimum(r * s, room)

        lo, hi = 0.0, 1e6
        for _ in range(200):
            mid = (lo + hi) / 2
            if wi_f @ delta(mid) < ci:
                lo = mid
            else:
                hi = mid
        out.append(delta(hi))
    return np.array(out)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_matches_closed_form_when_the_box_is_inactive(norm):
    g = torch.Generator().manual_seed(0)
    p = torch.full((6, 20), 0.5, dtype=torch.float64)
    w = torch.randn(6, 20, generator=g, dtype=torch.float64)
    c = torch.randn(6, generator=g, dtype=torch.float64) * 0.05
    d = project_hyperplane_box(p, w, c, norm)
    if norm == "L2":  # δ = c·w/‖w‖²
        ref = c[:, None] * w / (w * w).sum(1, keepdim=True)
    else:  # δ = c·sign(w)/‖w‖₁
        ref = c[:, None] * w.sign() / w.abs().sum(1, keepdim=True)
    torch.testing.assert_close(d, ref)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_matches_bisection_with_active_box(norm):
    g = torch.Generator().manual_seed(1)
    p = torch.rand(10, 15, generator=g, dtype=torch.float64)
    p[:, :4] = 0.0  # coordinates already on the boundary
    w = torch.randn(10, 15, generator=g, dtype=torch.float64)
    w[:, 4] = 0.0
    c = torch.randn(10, generator=g, dtype=torch.float64) * 1.5
    d = project_hyperplane_box(p, w, c, norm).numpy()
    ref = _bisect_reference(p, w, c, norm)
    feasible = np.abs((w.numpy() * ref).sum(1) - c.numpy()) < 1e-6
    assert feasible.sum() >= 3  # the test must cover feasible rows
    np.testing.assert_allclose(d[feasible], ref[feasible], atol=1e-7)
    np.testing.assert_allclose((w.numpy() * d).sum(1)[feasible], c.numpy()[feasible], atol=1e-9)
    assert ((p.numpy() + d) >= -1e-12).all() and ((p.numpy() + d) <= 1 + 1e-12).all()
    # infeasible rows: the full move towards the hyperplane (closest reachable point)
    np.testing.assert_allclose(d[~feasible], ref[~feasible], atol=1e-6)
