"""Matrix-free symmetric eigen/trace/density estimators on a ``matvec`` callable (flat vectors).

Used by ``hessian.py`` with a Hessian-vector product, tested on explicit matrices too. Vectors are
stored in the operator's dtype (float32 for a float32 model: a Krylov basis of a 10M-parameter model
must fit in memory); the tridiagonal coefficients and their eigenproblem are float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LanczosOutput:
    alphas: torch.Tensor  # float64, (m,)
    betas: torch.Tensor  # float64, (m,): betas[j] couples q_j and q_{j+1}
    basis: torch.Tensor  # (m, d) orthonormal Krylov basis
    steps: int


def _tridiag(alphas: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    m = alphas.numel()
    t = torch.diag(alphas)
    if m > 1:
        off = betas[: m - 1]
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return t


def lanczos(
    matvec: MatVec,
    v0: torch.Tensor,
    max_steps: int,
    stop: Optional[Callable[[torch.Tensor, torch.Tensor, int], bool]] = None,
) -> LanczosOutput:
    """Lanczos tridiagonalization with full reorthogonalization (classical Gram-Schmidt, twice).

    Reorthogonalizing against the whole basis keeps Ritz values free of the spurious copies plain
    Lanczos produces in finite precision (Paige 1972); "twice is enough" (Giraud et al. 2005).
    ``stop(alphas, betas, j)`` is asked after step j (j+1 matvecs done) and ends the iteration.
    """
    d = v0.numel()
    m = min(int(max_steps), d)
    basis = torch.zeros(m, d, dtype=v0.dtype, device=v0.device)
    alphas = torch.zeros(m, dtype=torch.float64)
    betas = torch.zeros(m, dtype=torch.float64)
    q = v0 / v0.norm()
    steps = 0
    for j in range(m):
        basis[j] = q
        w = matvec(q)
        a = torch.dot(w.double(), q.double())
        alphas[j] = a
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        b = w.double().norm()
        betas[j] = b
        steps = j + 1
        scale = alphas[: j + 1].abs().max().clamp_min(1e-300)
        if b <= 1e-10 * scale:  # invariant subspace: the Ritz values are exact
            break
        if stop is not None and stop(alphas[: j + 1], betas[: j + 1], j):
            break
        q = (w / b).to(v0.dtype)
    return LanczosOutput(alphas[:steps], betas[:steps], basis[:steps], steps)


def ritz(alphas: torch.Tensor, betas: torch.Tensor):
    """Ritz values (ascending), eigenvectors of T, and residual norms β_m·|s_{m,i}|."""
    theta, s = torch.linalg.eigh(_tridiag(alphas, betas))
    resid = betas[-1].abs() * s[-1].abs()
    return theta, s, resid


def error_bound(theta: torch.Tensor, resid: torch.Tensor) -> torch.Tensor:
    """min(r, r²/gap) per Ritz value: Kahan–Parlett–Jiang bound, gap to the nearest other Ritz value."""
    if theta.numel() == 1:
        return resid
    diff = (theta.unsqueeze(0) - theta.unsqueeze(1)).abs()
    diff.fill_diagonal_(float("inf"))
    gap = diff.min(1).values.clamp_min(1e-300)
    return torch.minimum(resid, resid ** 2 / gap)


def top_indices(theta: torch.Tensor, k: int, which: str) -> torch.Tensor:
    key = theta.abs() if which == "LM" else theta
    return torch.argsort(key, descending=True)[:k]


def lanczos_top_k(
    matvec: MatVec, v0: torch.Tensor, k: int, max_steps: int, tol: float, which: str = "LA"
):
    """Top-k eigenpairs by Lanczos, stopped when every wanted Ritz value's error bound ≤ tol·|θ|.

    Returns (values desc, vectors d×k, residuals, bounds, steps). ``which``: "LA" largest
    algebraic, "LM" largest magnitude.
    """
    def stop(alphas, betas, j):
        if j + 1 < k + 1:
            return False
        theta, _, resid = ritz(alphas, betas)
        idx = top_indices(theta, k, which)
        bound = error_bound(theta, resid)[idx]
        return bool((bound <= tol * theta[idx].abs().clamp_min(1e-30)).all())

    out = lanczos(matvec, v0, max_steps, stop)
    theta, s, resid = ritz(out.alphas, out.betas)
    if out.steps < v0.numel() and out.betas[-1] <= 1e-10 * out.alphas.abs().max():
        resid = torch.zeros_like(resid)
    idx = top_indices(theta, k, which)
    vecs = out.basis.T @ s[:, idx].to(out.basis.dtype)
    return theta[idx], vecs, resid[idx], error_bound(theta, resid)[idx], out.steps


def hutchpp(matvec: MatVec, d: int, n_matvec: int, like: torch.Tensor, generator: torch.Generator):
    """Hutch++ trace estimate (Meyer, Musco, Musco, Woodruff 2021, Algorithm 1).

    A third of the budget sketches the top subspace Q = qr(A S), a third takes its exact trace
    tr(Qᵀ A Q), the last third runs Hutchinson on (I - QQᵀ) A (I - QQᵀ). Returns (estimate,
    std error of the Hutchinson part, matvecs used).
    """
    k = max(1, n_matvec // 3)
    rad = lambda n: (torch.randint(0, 2, (d, n), generator=generator, device=generator.device)
                     .to(like.dtype).to(like.device) * 2 - 1)
    s, g = rad(k), rad(k)
    y = torch.stack([matvec(s[:, i]) for i in range(k)], 1)
    q, _ = torch.linalg.qr(y)
    top = sum(float(torch.dot(q[:, i].double(), matvec(q[:, i]).double())) for i in range(k))
    g = g - q @ (q.T @ g)
    samples = torch.tensor([float(torch.dot(g[:, i].double(), matvec(g[:, i]).double())) for i in range(k)],
                           dtype=torch.float64)
    err = float(samples.std() / k ** 0.5) if k > 1 else float("nan")
    return top + float(samples.mean()), err, 3 * k


def hutchinson(matvec: MatVec, d: int, n_matvec: int, like: torch.Tensor, generator: torch.Generator):
    """Plain Hutchinson: mean of zᵀAz over Rademacher z. Returns (estimate, std error, matvecs)."""
    samples = []
    for _ in range(n_matvec):
        z = (torch.randint(0, 2, (d,), generator=generator, device=generator.device)
             .to(like.dtype).to(like.device) * 2 - 1)
        samples.append(float(torch.dot(z.double(), matvec(z).double())))
    t = torch.tensor(samples, dtype=torch.float64)
    err = float(t.std() / len(samples) ** 0.5) if len(samples) > 1 else float("nan")
    return float(t.mean()), err, n_matvec


def slq(matvec: MatVec, d: int, n_v: int, steps: int, like: torch.Tensor, generator: torch.Generator):
    """Stochastic Lanczos quadrature (Ghorbani et al. 2019; Ubaru et al. 2017).

    For each Rademacher start v/|v|, the Gauss quadrature of Lanczos (nodes = Ritz values, weights =
    squared first components of T's eigenvectors) integrates polynomials of degree < 2·steps exactly
    against the spectral measure of v. Returns (nodes list, weights list, matvecs used).
    """
    nodes: List[torch.Tensor] = []
    weights: List[torch.Tensor] = []
    used = 0
    for _ in range(n_v):
        v = (torch.randint(0, 2, (d,), generator=generator, device=generator.device)
             .to(like.dtype).to(like.device) * 2 - 1)
        out = lanczos(matvec, v, steps)
        used += out.steps
        theta, s, _ = ritz(out.alphas, out.betas)
        nodes.append(theta)
        weights.append(s[0] ** 2)
    return nodes, weights, used


def krylov_hutchpp(matvec: MatVec, d: int, n_matvec: int, like: torch.Tensor,
                   generator: torch.Generator, krylov_fraction: float = 0.6):
    """Hutch++ with a Krylov sketch: Lanczos deflation, then Hutchinson on the rest.

    The Hutch++ idea (exact trace on a captured top subspace, Hutchinson on the complement) with
    the subspace taken from a Lanczos run (as in the Krylov variants of Persson, Cortinovis and
    Kressner 2022): m Lanczos steps capture the outlying eigenvalues far better than one product
    A·S, and tr(QᵀAQ) = Σ α_j comes for free from the tridiagonal matrix, so the whole budget
    is m + (n_matvec - m) products instead of Hutch++'s three thirds. Returns (estimate, std error
    of the Hutchinson part, matvecs used).
    """
    m = max(1, min(d, int(round(n_matvec * krylov_fraction))))
    z0 = torch.randn(d, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)
    out = lanczos(matvec, z0, m)
    top = float(out.alphas.sum())
    q = out.basis
    k = n_matvec - out.steps
    if k < 1 or out.steps == d:
        return top, 0.0 if out.steps == d else float("nan"), out.steps
    g = (torch.randint(0, 2, (k, d), generator=generator, device=generator.device)
         .to(like.dtype).to(like.device) * 2 - 1)
    g = g - (g @ q.T) @ q
    g = g - (g @ q.T) @ q
    samples = torch.tensor([float(torch.dot(g[i].double(), matvec(g[i]).double())) for i in range(k)],
                           dtype=torch.float64)
    err = float(samples.std() / k ** 0.5) if k > 1 else float("nan")
    return top + float(samples.mean()), err, out.steps + k
