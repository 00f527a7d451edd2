"""Counter-fitting word vectors to WordNet synonyms and antonyms (Mrkšić et al., NAACL 2016).

TextFooler (Jin et al., AAAI 2020) takes its candidates from counter-fitted vectors: pretrained
vectors moved so that synonyms attract and antonyms repel while each word keeps its close
neighbours. With d(u, v) = 1 − cos(u, v) the cosine distance, τ(x) = max(0, x), and unit vectors
V' fitted from the original V:

- antonym repel (Eq. 1)       AR(V') = Σ_{(u,w) ∈ A} τ(δ − d(v'_u, v'_w)),  δ = 1.0
- synonym attract (Eq. 2)     SA(V') = Σ_{(u,w) ∈ S} τ(d(v'_u, v'_w) − γ),  γ = 0
- vector space preservation (Eq. 3)
                              VSP(V, V') = Σ_i Σ_{j ∈ N(i)} τ(d(v'_i, v'_j) − d(v_i, v_j)),
                              N(i) = the words within distance ρ = 0.2 of i in V
- cost (Eq. 4)                C = k1·AR + k2·SA + k3·VSP,  k1 = k2 = k3 = 0.1

minimised by 20 full-batch gradient steps on the unit sphere, as the authors' released code does
(its configuration gives the k's): for an active term of the ordered pair (i, j) the gradient of
d(v_i, v_j) in the tangent plane at v_i is g = (v_i·v_j)·v_i − v_j; word i moves by the MEAN of
+k1·g (antonyms), −k2·g (synonyms) and −k3·g (VSP) over its active terms (their code: averaging
speeds convergence), then every vector is renormalised. Pairs that are both synonyms and antonyms
count as antonyms only, and antonym pairs are not preserved (as their code does).

The constraints here come from WordNet 3.0 (``wordnet.Lexicon``), not PPDB (the paper's synonyms):
synonyms are two vocabulary words that are lemmas of one synset that is among the FIRST senses of
both (``FIRST_SENSES``; single words, as the vocabulary has no multi-word tokens), or two inflections
by one morphy rule of such lemmas ("loves"/"enjoys"), kept when the base vectors put them at cosine
≥ ``SYNONYM_FLOOR``; antonyms are
``Lexicon.are_antonyms`` (direct antonyms, adjective clusters, inflections) plus one synonym hop
(``expand_antonyms``). Both additions are ours, not the paper's. Everything is deterministic (no
sampling; CPU float32).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

DELTA, GAMMA, RHO, K, STEPS = 1.0, 0.0, 0.2, (0.1, 0.1, 0.1), 20
# WordNet lists every sense and has no PPDB-like paraphrase score: a synonym pair is attracted only
# when the base vectors already put it at cosine >= this, which keeps the word's common sense
# ("terrible"/"horrible", "ship"/"send") and drops rare ones ("love"/"screw", "recommend"/"iron").
# Chosen by reading 15 random Fine Foods vocabulary pairs per 0.05 bin of MiniLM cosine (from 0.3
# most read as one meaning, below it fewer; docs/results.md), not on attack results.
SYNONYM_FLOOR = 0.3
# ... and only in a sense that is among the first FIRST_SENSES of BOTH words (WordNet's sense order,
# index.<pos>; past the senses the Semantic Concordance saw, only the first: ``Lexicon.first_senses``).
# Any sense let a word's rare sense pull it to another word's (read by eye, 13 of 30 swaps changed
# the meaning: great ~ big share only "pregnant", great's 6th and big's 13th sense; coffee ~
# chocolate only the colour, coffee's 4th and chocolate's 3rd). Two, not three, from reading 25
# random Fine Foods vocabulary pairs per band (docs/results.md): the pairs within the first 2 senses
# read as one meaning 20/25, those the 3rd adds 16/25, those later tagged senses add 12/25. Fixed
# before any attack was rerun.
FIRST_SENSES = 2
_VERSION = "2"  # bump when the fit or the pairs change: part of the cache key


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _ordered(pairs: torch.Tensor) -> torch.Tensor:
    """Both orders (i, j) and (j, i) of unordered pairs P×2: each word gets its own gradient term."""
    return torch.cat([pairs, pairs.flip(1)]) if len(pairs) else pairs.reshape(0, 2)


def _check_pairs(pairs: torch.Tensor, n: int, what: str) -> torch.Tensor:
    pairs = torch.as_tensor(pairs)
    if pairs.numel() == 0:
        return torch.zeros(0, 2, dtype=torch.int64)
    if pairs.dim() != 2 or pairs.shape[1] != 2 or pairs.dtype != torch.int64:
        raise ValueError(f"expected {what} pairs as int64 P×2 row ids, got {pairs.dtype} of shape {tuple(pairs.shape)}")
    if int(pairs.min()) < 0 or int(pairs.max()) >= n:
        raise ValueError(f"expected {what} pair ids in [0, {n}), got ids from {int(pairs.min())} to {int(pairs.max())}")
    return pairs[pairs[:, 0] != pairs[:, 1]]


def preservation_pairs(unit: torch.Tensor, valid: torch.Tensor, rho: float = RHO,
                       block: int = 4096) -> Tuple[torch.Tensor, torch.Tensor]:
    """(unordered pairs P×2 with i < j, their distances) of valid rows within cosine distance ``rho``: VSP's N(i)."""
    rows, dist = [], []
    idx = torch.nonzero(valid).flatten()
    u = unit[idx]
    for start in range(0, len(idx), block):
        d = 1 - u[start:start + block] @ u.T
        a, b = torch.nonzero(d <= rho, as_tuple=True)
        keep = idx[a + start] < idx[b]
        rows.append(torch.stack([idx[a + start][keep], idx[b][keep]], 1))
        dist.append(d[a[keep], b[keep]])
    if not rows:
        return torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0)
    return torch.cat(rows), torch.cat(dist)


def counterfit_step(v: torch.Tensor, synonyms: torch.Tensor, antonyms: torch.Tensor, vsp: torch.Tensor,
                    vsp_dist: torch.Tensor, k: Tuple[float, float, float] = K, delta: float = DELTA,
                    gamma: float = GAMMA) -> torch.Tensor:
    """One gradient step of C (module doc) on unit vectors ``v`` (V×E); pairs are ORDERED (i, j)
    row ids (P×2, word i moves), ``vsp_dist`` the original distance of each ``vsp`` pair."""
    update = torch.zeros_like(v)
    count = torch.zeros(len(v), dtype=v.dtype)
    for pairs, sign, active in ((antonyms, k[0], lambda d: d < delta), (synonyms, -k[1], lambda d: d > gamma),
                                (vsp, -k[2], lambda d: d > vsp_dist)):
        if not len(pairs) or sign == 0:
            continue
        vi, vj = v[pairs[:, 0]], v[pairs[:, 1]]
        dot = (vi * vj).sum(1)
        on = active(1 - dot)
        g = dot[:, None] * vi - vj  # ∂d(v_i, v_j)/∂v_i in the tangent plane at v_i
        update.index_add_(0, pairs[on, 0], sign * g[on])
        count.index_add_(0, pairs[on, 0], torch.ones(int(on.sum()), dtype=v.dtype))
    return _unit(v + update / count.clamp_min(1)[:, None])


def counter_fit(vectors: torch.Tensor, synonyms: torch.Tensor, antonyms: torch.Tensor,
                valid: Optional[torch.Tensor] = None, steps: int = STEPS, k: Tuple[float, float, float] = K,
                delta: float = DELTA, gamma: float = GAMMA, rho: float = RHO) -> torch.Tensor:
    """Counter-fitted unit vectors (V×E float32) of ``vectors`` (V×E) under unordered synonym and
    antonym pairs (P×2 int64 row ids; module doc). Rows not ``valid`` (default: non-zero rows) and
    pairs touching them are left out; such rows come back as 0."""
    if vectors.dim() != 2 or not vectors.is_floating_point() or len(vectors) == 0:
        raise ValueError(f"expected word vectors V×E float, got {vectors.dtype} of shape {tuple(vectors.shape)}")
    if not (isinstance(steps, int) and steps >= 0) or not all(x >= 0 for x in k) or not 0 <= rho <= 2:
        raise ValueError(f"expected steps a non-negative int, k's >= 0 and rho in [0, 2], got {steps!r}, {k!r}, {rho!r}")
    v = vectors.float()
    ok = v.norm(dim=1) > 0 if valid is None else valid.bool() & (v.norm(dim=1) > 0)
    syn = _check_pairs(synonyms, len(v), "synonym")
    ant = _check_pairs(antonyms, len(v), "antonym")
    syn, ant = syn[ok[syn].all(1)], ant[ok[ant].all(1)]
    # a pair that is both counts as antonyms only, and antonyms are not held together by VSP
    ant_keys = set(map(tuple, ant.sort(1).values.tolist()))
    syn = syn[torch.tensor([tuple(p) not in ant_keys for p in syn.sort(1).values.tolist()], dtype=torch.bool)] \
        if len(syn) else syn
    unit = _unit(v) * ok[:, None]
    vsp, vsp_dist = preservation_pairs(unit, ok, rho)
    if len(vsp):
        keep = torch.tensor([tuple(p) not in ant_keys for p in vsp.tolist()], dtype=torch.bool)
        vsp, vsp_dist = vsp[keep], vsp_dist[keep]
    syn, ant, vsp, vsp_dist = _ordered(syn), _ordered(ant), _ordered(vsp), torch.cat([vsp_dist, vsp_dist])
    for _ in range(steps):
        unit = counterfit_step(unit, syn, ant, vsp, vsp_dist, k, delta, gamma) * ok[:, None]
    return unit


def lexicon_pairs(tokens: Sequence[str], lexicon, valid: Optional[torch.Tensor] = None,
                  first_senses: int = FIRST_SENSES) -> Tuple[torch.Tensor, torch.Tensor]:
    """(synonym pairs, antonym pairs), unordered P×2 int64 ids i < j of ``tokens`` (module doc:
    synonyms share one of the ``first_senses`` first senses of both, ``Lexicon.first_senses``),
    both words ``valid`` (default: all)."""
    from .wordnet import inflection_rules

    ok = [True] * len(tokens) if valid is None else valid.tolist()
    groups: Dict[tuple, List[int]] = {}
    by_base: Dict[str, List[int]] = {}
    for i, w in enumerate(tokens):
        if not ok[i] or not w.isalpha():
            continue
        for b in lexicon.base_forms(w):
            by_base.setdefault(b, []).append(i)
        if w in lexicon.synsets:  # a lemma: its first senses
            for ss in lexicon.synsets[w] & lexicon.first_senses(w, first_senses):
                groups.setdefault((ss, ""), []).append(i)
        else:  # an inflection: the first senses of its base under the rule that makes it, per part of speech
            for pos, suffix, repl, form in inflection_rules(w):
                base = w[:len(w) - len(suffix)] + repl
                for ss in lexicon.synsets.get(base, set()) & lexicon.first_senses(base, first_senses):
                    if ss[0] == pos:
                        groups.setdefault((ss, form), []).append(i)
    syn = {(a, b) for ids in groups.values() for x, a in enumerate(ids) for b in ids[x + 1:] if a != b}
    ant = set()
    for i, w in enumerate(tokens):
        if ok[i] and w.isalpha():
            for b in lexicon.base_forms(w):
                for o in lexicon.opposite.get(b, ()):
                    ant |= {(min(i, j), max(i, j)) for j in by_base.get(o, ()) if j != i}

    def tensor(pairs) -> torch.Tensor:
        return torch.tensor(sorted(pairs), dtype=torch.int64).reshape(-1, 2)

    return tensor({(min(p), max(p)) for p in syn}), tensor(ant)


def expand_antonyms(antonyms: torch.Tensor, synonyms: torch.Tensor) -> torch.Tensor:
    """Unordered antonym pairs plus (a, c) for every antonym pair (a, b) and synonym pair (b, c):
    one hop of lexical contrast. Without it, synonym chains through WordNet's degree senses
    ("terrible" ~ "tremendous" ~ "wonderful") pull opposites together; "great" ~ "wonderful" and
    great/terrible (adjective clusters) make wonderful/terrible antonyms here."""
    near: Dict[int, set] = {}
    for a, b in synonyms.tolist():
        near.setdefault(a, set()).add(b)
        near.setdefault(b, set()).add(a)
    out = set(map(tuple, antonyms.tolist()))
    for a, b in antonyms.tolist():
        out |= {(min(a, c), max(a, c)) for c in near.get(b, ()) if c != a}
        out |= {(min(b, c), max(b, c)) for c in near.get(a, ()) if c != b}
    return torch.tensor(sorted(out), dtype=torch.int64).reshape(-1, 2)


def cache_dir() -> Path:
    """``$NNSAFETY_CACHE``, else ``$XDG_CACHE_HOME/nnsafety``, else ``~/.cache/nnsafety``."""
    if os.environ.get("NNSAFETY_CACHE"):
        return Path(os.environ["NNSAFETY_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "nnsafety"


def counterfit_vectors(tokens: Sequence[str], base: torch.Tensor, found: torch.Tensor, lexicon,
                       cache: Optional[str | Path] = None) -> torch.Tensor:
    """``counter_fit`` of a vocabulary's base vectors (V×E, rows ``found``) with its WordNet pairs
    (``lexicon_pairs``), read from / written to ``cache`` (default ``cache_dir()/counterfit``) under
    a SHA-256 of the tokens, the base table, the pairs and the settings (written to a temp file,
    then renamed; an unwritable cache is skipped)."""
    from safetensors.torch import load_file, save_file

    from .._io import atomic_write

    syn, ant = lexicon_pairs(tokens, lexicon, found)
    unit = _unit(base.float())
    syn = syn[(unit[syn[:, 0]] * unit[syn[:, 1]]).sum(1) >= SYNONYM_FLOOR]
    ant = expand_antonyms(ant, syn)
    h = hashlib.sha256(f"counterfit v{_VERSION} {K} {DELTA} {GAMMA} {RHO} {STEPS} {SYNONYM_FLOOR} {FIRST_SENSES}\n".encode())
    h.update("\n".join(tokens).encode("utf-8"))
    for t in (base.float().contiguous(), found.to(torch.uint8), syn, ant):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    path = Path(cache if cache is not None else cache_dir() / "counterfit") / f"{h.hexdigest()[:32]}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))["vectors"]
        except Exception:  # a damaged cache file is refitted and replaced
            pass
    fitted = counter_fit(base, syn, ant, valid=found)
    try:
        atomic_write(path, lambda tmp: save_file({"vectors": fitted.contiguous()}, tmp))
    except OSError:
        pass
    return fitted
