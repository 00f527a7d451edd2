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
MatMat = Callable[[torch.Tensor], torch.Tensor]  # k×d rows -> their k products, k×d


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


def _rademacher(k: int, d: int, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return (torch.randint(0, 2, (k, d), generator=generator, device=generator.device)
            .to(like.dtype).to(like.device) * 2 - 1)


def _rowdots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """aᵢ·bᵢ per row in float64 (one row at a time: no float64 copy of a whole k×d block)."""
    return torch.stack([torch.dot(x.double(), y.double()) for x, y in zip(a, b)])


def _hutchinson_samples(matmat: MatMat, g: torch.Tensor) -> torch.Tensor:
    return _rowdots(g, matmat(g))


def _mean_and_error(samples: torch.Tensor):
    k = samples.numel()
    return float(samples.mean()), (float(samples.std() / k ** 0.5) if k > 1 else float("nan"))


def hutchpp(matmat: MatMat, d: int, n_matvec: int, like: torch.Tensor, generator: torch.Generator):
    """Hutch++ trace estimate (Meyer, Musco, Musco, Woodruff 2021, Algorithm 1).

    A third of the budget sketches the top subspace Q = qr(A S), a third takes its exact trace
    tr(Qᵀ A Q), the last third runs Hutchinson on (I - QQᵀ) A (I - QQᵀ). ``matmat`` maps k×d rows
    to their products (each third is one call). Returns (estimate, std error of the Hutchinson
    part, matvecs used).
    """
    k = max(1, n_matvec // 3)
    s, g = _rademacher(k, d, like, generator), _rademacher(k, d, like, generator)
    q = torch.linalg.qr(matmat(s).T)[0].T  # k orthonormal rows
    top = float(_rowdots(q, matmat(q)).sum())
    g = g - (g @ q.T) @ q
    mean, err = _mean_and_error(_hutchinson_samples(matmat, g))
    return top + mean, err, 3 * k


def hutchinson(matmat: MatMat, d: int, n_matvec: int, like: torch.Tensor, generator: torch.Generator):
    """Plain Hutchinson: mean of zᵀAz over Rademacher z. Returns (estimate, std error, matvecs)."""
    mean, err = _mean_and_error(_hutchinson_samples(matmat, _rademacher(n_matvec, d, like, generator)))
    return mean, err, n_matvec


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
        v = _rademacher(1, d, like, generator)[0]
        out = lanczos(matvec, v, steps)
        used += out.steps
        theta, s, _ = ritz(out.alphas, out.betas)
        nodes.append(theta)
        weights.append(s[0] ** 2)
    return nodes, weights, used


@dataclass
class BlockKrylovOutput:
    trace: float  # tr(QᵀAQ), float64 sums of qᵢᵀAqᵢ
    basis: torch.Tensor  # r×d orthonormal rows Q spanning K_m(A, V0)
    projected: torch.Tensor  # r×r float64, QᵀAQ (every entry, not only the block tridiagonal)
    used: int  # products spent on the basis
    ride_products: Optional[torch.Tensor]  # A·x for the ``ride`` rows


def block_krylov(matmat: MatMat, v0: torch.Tensor, max_blocks: int,
                 ride: Optional[torch.Tensor] = None) -> BlockKrylovOutput:
    """Block Lanczos with full reorthogonalization: Q spanning K_m(A, V0), tr(QᵀAQ) and QᵀAQ.

    Block j is orthonormalized against all earlier blocks (classical Gram–Schmidt twice, then QR);
    A·Q_j is one ``matmat`` call whose first Gram–Schmidt coefficients are the entries Q_{≤j}ᵀ A Q_j
    of QᵀAQ, so every product counts. ``ride``: rows whose products do not depend on Q (Hutchinson
    probes) spread over the same calls, so the sequential call count stays ``max_blocks``. A block
    that loses rank goes on with the directions it has left; the run stops early when none are
    left (an invariant subspace: what was captured is exact) or the basis fills the space. Ride
    rows not yet multiplied when the run ends go in one last call.
    """
    d = v0.shape[1]
    tol = 1e3 * torch.finfo(v0.dtype).eps
    k = 0 if ride is None else ride.shape[0]
    per_call = -(-k // max(1, max_blocks))
    q = torch.linalg.qr(v0.T)[0].T[: min(v0.shape[0], d)]
    blocks: List[torch.Tensor] = []
    coef: List[torch.Tensor] = []  # coef[j] = Q_jᵀ A Q_{≤j}, rows of block j
    ride_out: List[torch.Tensor] = []
    top, used, done = 0.0, 0, 0
    for j in range(max_blocks):
        extra = ride[done:done + per_call] if k else None
        out = matmat(q if extra is None else torch.cat([q, extra]))
        w = out[: q.shape[0]]
        if extra is not None:
            ride_out.append(out[q.shape[0]:])
            done += extra.shape[0]
        used += q.shape[0]
        top += float(_rowdots(q, w).sum())
        blocks.append(q)
        basis = torch.cat(blocks)
        scale = w.norm(dim=1).max().clamp_min(1e-300)
        c = w @ basis.T
        coef.append(c.double())
        if j == max_blocks - 1 or basis.shape[0] >= d:
            break
        w = w - c @ basis
        w = w - (w @ basis.T) @ basis
        # rank-revealing orthonormalization (QR, then the SVD of the small R): directions of the new
        # block at rounding level are dropped (block deflation), an empty block ends the run
        qt, r = torch.linalg.qr(w.T)
        u, sv, _ = torch.linalg.svd(r)
        keep = u[:, sv > tol * scale][:, : d - basis.shape[0]]
        if keep.shape[1] == 0:
            break  # invariant subspace: what the basis captured is exact
        q = (qt @ keep).T
        q = q - (q @ basis.T) @ basis  # the dropped directions' rounding may leak into basis
        q = torch.linalg.qr(q.T)[0].T
    if done < k:
        ride_out.append(matmat(ride[done:]))
    basis = torch.cat(blocks)
    r = basis.shape[0]
    proj = torch.zeros(r, r, dtype=torch.float64, device=basis.device)
    row = 0
    for c in coef:
        proj[row:row + c.shape[0], : c.shape[1]] = c
        proj[: c.shape[1], row:row + c.shape[0]] = c.T
        row += c.shape[0]
    return BlockKrylovOutput(top, basis, proj, used, torch.cat(ride_out) if ride_out else None)


def krylov_hutchpp(matmat: MatMat, d: int, n_matvec: int, like: torch.Tensor,
                   generator: torch.Generator, krylov_fraction: float = 0.6, block: int = 6):
    """Hutch++ with a block-Krylov sketch: deflate a block Lanczos subspace, Hutchinson on the rest.

    The Hutch++ idea (exact trace on a captured top subspace, Hutchinson on the complement) with
    the subspace taken from a Krylov run (as in the Krylov variants of Persson, Cortinovis and
    Kressner 2022): a Krylov space captures the outlying eigenvalues far better than one product
    A·S, and tr(QᵀAQ) comes with the products that build it, so the budget is m Krylov products +
    (n - m) probes instead of Hutch++'s three thirds. ``block`` start vectors run at once (block=1
    is plain Lanczos) and the probes ride along in the same calls: m/block sequential ``matmat``
    calls in all. A probe g is deflated after the fact: with c = Qg,
    (g - Qᵀc)ᵀA(g - Qᵀc) = gᵀAg - 2 cᵀ(Q·Ag) + cᵀ(QᵀAQ)c, exactly. Unbiased for any sketch (the
    probes are drawn independently of it). Returns (estimate, std error of the Hutchinson part,
    matvecs used).
    """
    b = max(1, min(int(block), n_matvec, d))
    m = max(1, int(round(n_matvec * krylov_fraction / b)))
    z0 = torch.randn(b, d, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)
    k = n_matvec - b * m
    g = _rademacher(k, d, like, generator) if k > 0 and b * m < d else None
    out = block_krylov(matmat, z0, m, ride=g)
    if out.basis.shape[0] >= d:
        return out.trace, 0.0, out.used + (0 if g is None else k)
    if g is None:
        return out.trace, float("nan"), out.used
    q = out.basis
    c = (g @ q.T).double()  # k×r
    qag = (out.ride_products @ q.T).double()
    samples = _rowdots(g, out.ride_products) - 2 * (c * qag).sum(1) + ((c @ out.projected) * c).sum(1)
    mean, err = _mean_and_error(samples)
    return out.trace + mean, err, out.used + k
