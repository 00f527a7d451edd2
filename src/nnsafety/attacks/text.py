"""Word- and character-level attacks on text classifiers (TokenDomain), composed TextAttack-style.

An attack = goal (untargeted: the predicted label leaves y; the score is p_y, to be lowered) +
constraints (at most ⌊max_change · n⌋ of a text's n real tokens change, stop words and padding
never do, candidate words within a cosine floor of the original) + transformation (which
replacements a position gets) + search (greedy over positions). Candidates of every active text
are scored together in batches; nothing is fetched at run time.

- ``textfooler`` (Jin et al., AAAI 2020): positions by deletion importance (p_y drop when the word
  is deleted, the paper's Eq. 2; ``importance="unk"``: when it becomes [UNK]), candidates =
  word-vector neighbours with cosine ≥ ``min_cos`` (``nnsafety.data.synonyms``: with the extra nlp,
  MiniLM's input embeddings counter-fitted to WordNet's synonyms and antonyms as the paper's vectors
  are to PPDB's and WordNet's, ``data.counterfit``; else spaCy's md vectors; identical vectors and
  WordNet antonyms removed); among successful candidates the closest neighbour wins, else the one lowering p_y most;
  with ``min_sim`` also the paper's sentence check, MiniLM cosine of 15-word windows
  (``text_similarity``, the extra nlp).
- ``deepwordbug`` (Gao et al., IEEE S&P Workshops 2018): importance by [UNK] (as in TextAttack's
  recipe), candidates = the word's single-character edits (adjacent swap, substitution, deletion, insertion of a-z).
- ``hotflip`` (Ebrahimi et al., ACL 2018): each step ranks every (position, word) flip by the
  first-order loss change (e_w − e_i)·∇_{e_i}L over the whole vocabulary (or its neighbours),
  queries the ``beam`` best flips and keeps the best.
The adversarial strings are the original texts with each changed token's span replaced, so
``vocab.encode(adversarial_texts)`` gives exactly the ids the model saw (checked; a mismatch falls
back to the space-joined tokens).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .._model import batched_logits, model_state
from .base import register_attack_fn
from .embedding import check_embedding_seam, token_mask

# English function words (pronouns, articles, auxiliaries, prepositions, conjunctions, negations)
STOP_WORDS = frozenset("""a about above after again against all am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
down during each few for from further had hadn't has hasn't have haven't having he her here hers herself him
himself his how i if in into is isn't it it's its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should shouldn't so some such than that that's the
their theirs them themselves then there there's these they this those through to too under until up very was
wasn't we were weren't what when where which while who whom why will with won't would wouldn't you your yours
yourself yourselves""".split())


@dataclass
class TextAttackResult:
    """Per text: success (the label left y), queries (model evaluations), edits (tokens changed),
    n_words (real tokens), predictions, ids and strings before/after."""

    success: torch.Tensor
    y: torch.Tensor
    queries: torch.Tensor
    edits: torch.Tensor
    n_words: torch.Tensor
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor
    x_adv: torch.Tensor
    original_texts: List[str]
    adversarial_texts: List[str]
    attack: str = ""
    params: Dict[str, object] = field(default_factory=dict)

    @property
    def attacked(self) -> torch.Tensor:
        """Texts the model got right before the attack (the success rate is over these)."""
        return self.clean_pred == self.y

    def summary(self) -> Dict[str, float]:
        ok = self.attacked
        n = int(ok.sum())
        won = self.success & ok
        frac = self.edits.double() / self.n_words.clamp_min(1)
        return {"n": len(self.success), "attacked": n,
                "success_rate": float(won.sum()) / n if n else float("nan"),
                "robust_accuracy": float((self.adv_pred == self.y).double().mean()),
                "mean_words_changed": float(self.edits[won].double().mean()) if won.any() else 0.0,
                "mean_fraction_changed": float(frac[won].mean()) if won.any() else 0.0,
                "mean_queries": float(self.queries[ok].double().mean()) if n else 0.0}

    def examples(self, k: int = 5) -> List[Tuple[str, str]]:
        """The first ``k`` successful (original, adversarial) string pairs."""
        idx = torch.nonzero(self.success & self.attacked).flatten()[:k].tolist()
        return [(self.original_texts[i], self.adversarial_texts[i]) for i in idx]

    def to_dict(self, k: int = 5) -> Dict[str, object]:
        return {"attack": self.attack, "params": dict(self.params), **self.summary(),
                "examples": [{"original": a, "adversarial": b} for a, b in self.examples(k)]}

    def to_text(self, k: int = 5, width: int = 300) -> str:
        """One summary line, then ``k`` adversarial examples (cut at ``width`` characters)."""
        s = self.summary()
        lines = [f"{self.attack} {self.params}: success {100 * s['success_rate']:.1f}% of {s['attacked']} correctly "
                 f"classified texts, robust accuracy {100 * s['robust_accuracy']:.1f}%, "
                 f"{s['mean_words_changed']:.2f} words changed ({100 * s['mean_fraction_changed']:.1f}%), "
                 f"{s['mean_queries']:.1f} queries per text"]
        for a, b in self.examples(k):
            lines += [f"- {a[:width]}", f"+ {b[:width]}"]
        return "\n".join(lines)


# ---- constraints and goal ---------------------------------------------------------------------

def edit_budget(ids: torch.Tensor, max_change: float, pad_id: int = 0) -> torch.Tensor:
    """⌊max_change · n⌋ per text, n its real tokens (the TokenDomain fraction rule)."""
    if not 0 <= max_change <= 1:
        raise ValueError(f"expected max_change a fraction in [0, 1], got {max_change}")
    return torch.floor((ids != pad_id).sum(1).double() * max_change).long()


def modifiable(ids: torch.Tensor, vocab, keep_stop_words: bool, pad_id: int = 0) -> torch.Tensor:
    """Positions an attack may change: real tokens, minus stop words when they are kept."""
    ok = ids != pad_id
    if keep_stop_words:
        stop = torch.tensor([t in STOP_WORDS for t in vocab.tokens])
        ok &= ~stop[ids]
    return ok


def compound_parts(texts: Sequence[str], ids: torch.Tensor, vocab) -> torch.Tensor:
    """Positions whose token is part of a hyphenated compound of its source text ("take" and "out" of
    "take-out", "grain" of "grain-free"): the token's span touches a "-" that joins it to a letter or
    digit. TextFooler keeps such compounds whole, as TextAttack's word splitter does: a synonym of one
    part gives "took-out" or "grains-free"."""
    out = torch.zeros(ids.shape, dtype=torch.bool)
    for i, text in enumerate(texts):
        s = text.lower()
        for j, (a, b) in enumerate((_token_spans(text, vocab) or [])[:ids.shape[1]]):
            out[i, j] = (a >= 2 and s[a - 1] == "-" and s[a - 2].isalnum()) or \
                (b + 1 < len(s) and s[b] == "-" and s[b + 1].isalnum())
    return out


def true_class_prob(model: nn.Module, ids: torch.Tensor, y: torch.Tensor, batch_size: int,
                    pad_id: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(p_y, predicted label) of a batch of id sequences: the goal's score and its success test.
    Rows go through the model sorted by length: the text models cut a batch after its longest real
    token, so candidates of a short review are not computed at the length of a long one."""
    order = (ids != pad_id).sum(1).argsort(stable=True)
    logits = batched_logits(model, ids[order], batch_size)
    if len(ids):
        logits = logits[order.argsort()]
    return F.softmax(logits, 1).gather(1, y[:, None]).squeeze(1), logits.argmax(1)


def substitution_prob(model: nn.Module, base: torch.Tensor, owner: torch.Tensor, pos: torch.Tensor, tok: torch.Tensor,
                      y: torch.Tensor, batch_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``true_class_prob`` of the one-word variants ``base[owner]`` with ``pos`` set to ``tok``. A model
    with ``substitution_logits`` (text_cnn: only the windows around the changed word are recomputed,
    equal to the full forward up to float rounding) answers without a full forward per variant; any
    other model gets the variants built and run in full."""
    fast = getattr(model, "substitution_logits", None)
    logits = fast(base, owner, pos, tok) if fast is not None and len(owner) else None
    if logits is None:
        probe = base[owner].clone()
        probe[torch.arange(len(owner)), pos] = tok
        return true_class_prob(model, probe, y, batch_size)
    return F.softmax(logits.float(), 1).gather(1, y[:, None]).squeeze(1), logits.argmax(1)


# ---- transformations: candidates (id, surface string) for one token -------------------------------

def neighbour_candidates(table: torch.Tensor, vocab) -> Callable[[int, str], List[Tuple[int, str]]]:
    """Word-vector neighbours (rows of an id table V×K, −1 = none), closest first."""
    rows = table.tolist()
    return lambda tok, word: [(j, vocab.tokens[j]) for j in rows[tok] if j >= 0]


def char_candidates(vocab, letters: str = "abcdefghijklmnopqrstuvwxyz") -> Callable[[int, str], List[Tuple[int, str]]]:
    """Every single-character edit of the word (letters only; one candidate per resulting id)."""
    def edits(tok: int, word: str) -> List[Tuple[int, str]]:
        if not word.isalpha():
            return []
        out = [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1) if word[i] != word[i + 1]]
        out += [word[:i] + word[i + 1:] for i in range(len(word))] if len(word) > 1 else []
        out += [word[:i] + c + word[i + 1:] for i in range(len(word)) for c in letters if c != word[i]]
        out += [word[:i] + c + word[i:] for i in range(len(word) + 1) for c in letters]
        seen: Dict[int, str] = {}
        for s in out:
            seen.setdefault(vocab.index.get(s, vocab.unk_id), s)
        seen.pop(tok, None)
        return list((i, s) for i, s in seen.items())
    return edits


# ---- search ---------------------------------------------------------------------------------------

def deletion_importance(model, ids, y, p0, allowed, unk_id: int, batch_size: int,
                        delete: bool = False, pad_id: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Positions by decreasing p_y drop (from p0) when each allowed token is deleted (``delete``,
    TextFooler's I = F_y(X) − F_y(X without w_i)) or becomes [UNK] (the others last), and the
    queries spent per text."""
    rows, cols = torch.nonzero(allowed, as_tuple=True)
    if not len(rows):
        p = torch.zeros(0)
    elif delete:  # the tokens after the deleted one move up by one; padding fills the end
        fast = getattr(model, "deletion_logits", None)
        logits = fast(ids, rows, cols) if fast is not None else None
        if logits is not None:  # text_cnn: only the windows across the gap recomputed
            p = F.softmax(logits.float(), 1).gather(1, y[rows][:, None]).squeeze(1)
        else:
            j = torch.arange(ids.shape[1])[None]
            src = j + (j >= cols[:, None]).long()
            probe = ids[rows].gather(1, src.clamp_max(ids.shape[1] - 1)).masked_fill(src >= ids.shape[1], pad_id)
            p, _ = true_class_prob(model, probe, y[rows], batch_size, pad_id)
    else:
        p, _ = substitution_prob(model, ids, rows, cols, torch.full_like(rows, unk_id), y[rows], batch_size)
    score = torch.full(ids.shape, float("-inf"))
    score[rows, cols] = p0[rows] - p
    return score.argsort(dim=1, descending=True, stable=True), allowed.sum(1)


def _choose(p: torch.Tensor, pred: torch.Tensor, y: int, prefer_first: bool) -> int:
    """The candidate to keep: the first successful one (closest neighbour) or the lowest p_y."""
    won = torch.nonzero(pred != y).flatten()
    if len(won):
        return int(won[0]) if prefer_first else int(won[p[won].argmin()])
    return int(p.argmin())


class _State:
    """The running adversarial ids, surfaces, scores and counters of a batch of texts."""

    def __init__(self, model, ids, y, vocab, texts, max_change, keep_stop_words, batch_size):
        self.model, self.ids, self.y, self.vocab, self.bs = model, ids, y, vocab, batch_size
        self.cur = ids.clone()
        self.surface: List[Dict[int, str]] = [{} for _ in range(len(ids))]
        self.texts = list(texts) if texts is not None else vocab.decode(ids)
        self.budget = edit_budget(ids, max_change, vocab.pad_id)
        self.allowed = modifiable(ids, vocab, keep_stop_words, vocab.pad_id)
        self.p, self.pred = true_class_prob(model, ids, y, batch_size)
        self.clean_pred = self.pred.clone()
        self.queries = torch.ones(len(ids), dtype=torch.long)
        self.similarity, self.min_sim = None, None  # textfooler's optional sentence check

    def _drop_dissimilar(self, probe, owner, pos, p, pred, lab) -> None:
        """Candidates that could be kept (they succeed or lower p_y) but whose window similarity to
        the original is under ``min_sim`` get p = inf and the true label, so none is ever chosen.
        Only those are encoded: a candidate the search would discard anyway needs no check."""
        could = torch.nonzero((pred != lab) | (p < self.p[owner])).flatten()
        if len(could):
            sim = self.similarity(self.vocab, self.ids[owner[could]], probe[could], pos[could])
            bad = could[sim < self.min_sim]
            p[bad], pred[bad] = float("inf"), lab[bad]

    @property
    def edits(self) -> torch.Tensor:
        return (self.cur != self.ids).sum(1)

    def active(self) -> torch.Tensor:
        return (self.pred == self.y) & (self.clean_pred == self.y) & (self.edits < self.budget)

    def try_candidates(self, jobs: List[Tuple[int, int, List[Tuple[int, str]]]], prefer_first: bool) -> None:
        """jobs: (text i, position, candidates); all candidates of all jobs in one batched pass."""
        jobs = [j for j in jobs if j[2]]
        if not jobs:
            return
        owner = torch.tensor([i for i, _, c in jobs for _ in c])
        cand = torch.tensor([t for _, _, c in jobs for t, _ in c])
        pos = torch.tensor([p for _, p, c in jobs for _ in c])
        lab = self.y[owner]
        p, pred = substitution_prob(self.model, self.cur, owner, pos, cand, lab, self.bs)
        if self.similarity is not None:
            probe = self.cur[owner].clone()
            probe[torch.arange(len(probe)), pos] = cand
            self._drop_dissimilar(probe, owner, pos, p, pred, lab)
        start = 0
        for i, position, c in jobs:
            k = _choose(p[start:start + len(c)], pred[start:start + len(c)], int(self.y[i]), prefer_first)
            self.queries[i] += len(c)
            j = start + k
            if pred[j] != self.y[i] or p[j] < self.p[i]:
                self.cur[i, position] = c[k][0]
                self.surface[i][position] = c[k][1]
                self.p[i], self.pred[i] = p[j], pred[j]
            start += len(c)

    def result(self, name: str, params: Dict[str, object]) -> TextAttackResult:
        adv = [render(t, self.vocab, row, self.ids[i], self.surface[i]) for i, (t, row) in enumerate(zip(self.texts, self.cur))]
        return TextAttackResult(self.pred != self.y, self.y, self.queries, self.edits, (self.ids != self.vocab.pad_id).sum(1),
                                self.clean_pred, self.pred.clone(), self.cur, self.texts, adv, name, params)


@functools.lru_cache(maxsize=4)
def _pattern(source: str) -> "re.Pattern":
    return re.compile(source)


def _token_spans(text: str, vocab) -> Optional[List[Tuple[int, int]]]:
    """The character span of each token of ``text`` under the vocabulary's word pattern, or None for
    a vocabulary without one (MiniLM's WordPiece: its ids start with [CLS] and split words into pieces)."""
    source = vocab.to_dict().get("token_pattern")
    return None if source is None else [m.span() for m in _pattern(source).finditer(text.lower())]


def render(text: str, vocab, adv_ids: torch.Tensor, ids: torch.Tensor, surface: Dict[int, str]) -> str:
    """``text`` with the span of every changed token replaced by its new surface form; a vocabulary
    without a word pattern (WordPiece) gets its decoded pieces."""
    changed = {p: surface.get(p, vocab.tokens[int(adv_ids[p])]) for p in torch.nonzero(adv_ids != ids).flatten().tolist()}
    if not changed:
        return text
    spans = _token_spans(text, vocab)
    if spans is None:
        return vocab.decode(adv_ids[None])[0]
    out = text
    if len(spans) >= int((ids != vocab.pad_id).sum()):
        for p in sorted(changed, reverse=True):
            a, b = spans[p]
            out = out[:a] + changed[p] + out[b:]
        if torch.equal(vocab.encode([out])[0], adv_ids):
            return out
    words = [vocab.tokens[int(t)] for t in ids if t != vocab.pad_id]
    return " ".join(changed.get(p, w) for p, w in enumerate(words))


def _setup(model, x, y, vocab, what):
    if what == "hotflip":
        check_embedding_seam(model, what)
    if vocab is None or not hasattr(vocab, "tokens"):
        raise ValueError(f"{what} needs vocab= (the Vocab the model was trained with), got {type(vocab).__name__}")
    if x.dtype != torch.int64 or x.dim() != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"expected int64 token ids N×L and N labels, got {x.dtype} {tuple(x.shape)} and {tuple(y.shape)}")


def _greedy(model, x, y, vocab, texts, max_change, keep_stop_words, batch_size, candidates, prefer_first, name, params,
            similarity=None, min_sim=None, delete=False, whole_compounds=False):
    with model_state(model, train=False, freeze=True):
        st = _State(model, x, y, vocab, texts, max_change, keep_stop_words, batch_size)
        if whole_compounds:
            st.allowed &= ~compound_parts(st.texts, x, vocab)
        st.similarity, st.min_sim = similarity, min_sim
        order, q = deletion_importance(model, x, y, st.p, st.allowed & st.active()[:, None], vocab.unk_id, batch_size,
                                       delete, vocab.pad_id)
        st.queries += q
        n_allowed = st.allowed.sum(1)
        for step in range(int(n_allowed.max()) if len(x) else 0):
            act = torch.nonzero(st.active() & (n_allowed > step)).flatten().tolist()
            if not act:
                break
            jobs = []
            for i in act:
                p = int(order[i, step])
                tok = int(st.cur[i, p])
                jobs.append((i, p, candidates(tok, vocab.tokens[tok])))
            st.try_candidates(jobs, prefer_first)
        return st.result(name, params)


def textfooler(model: nn.Module, x: torch.Tensor, y: torch.Tensor, vocab=None, texts: Optional[Sequence[str]] = None,
               max_change: float = 0.2, neighbours: Optional[torch.Tensor] = None, k: int = 20, min_cos: float = 0.5,
               keep_stop_words: bool = True, batch_size: int = 512, min_sim: Optional[float] = None,
               sim_window: int = 15, similarity=None, neighbour_source: str = "auto",
               antonym_guard: bool = True, importance: str = "delete", whole_compounds: bool = True) -> TextAttackResult:
    """TextFooler-style greedy word substitution (module doc). ``neighbours``: an id table V×K
    (default: the vocabulary's k neighbours at cosine ≥ min_cos under ``neighbour_source``, "auto"
    = counter-fitted MiniLM with the extra nlp, else spaCy md, and with ``antonym_guard`` WordNet antonyms and
    identical vectors dropped: ``data.synonyms.vocab_neighbours``; needs ``make data-text``).
    ``min_sim``: also keep only candidates whose ``sim_window``-word window has MiniLM sentence
    cosine ≥ ``min_sim`` to the original's (``text_similarity.SentenceSimilarity``; the extra nlp);
    ``similarity``: another callable with its signature. None: no sentence check. ``importance``:
    rank words by the p_y drop when each is deleted (the paper's rule, default) or set to "unk".
    ``whole_compounds``: never swap a part of a hyphenated compound of ``texts`` (``compound_parts``)."""
    _setup(model, x, y, vocab, "textfooler")
    if importance not in ("delete", "unk"):
        raise ValueError(f"expected importance 'delete' or 'unk', got {importance!r}")
    if min_sim is not None and not -1 <= min_sim <= 1:
        raise ValueError(f"expected min_sim None or a cosine in [-1, 1], got {min_sim!r}")
    if neighbours is None:
        from ..data.synonyms import describe_neighbours, resolve_source, vocab_neighbours

        neighbour_source = resolve_source(neighbour_source)
        neighbours, _ = vocab_neighbours(vocab.tokens, k, min_cos, source=neighbour_source, guard=antonym_guard)
        described = describe_neighbours(neighbour_source, antonym_guard)
    else:
        described = "given"
    if min_sim is not None and similarity is None:
        from .text_similarity import SentenceSimilarity

        similarity = SentenceSimilarity(sim_window)
    params = {"max_change": max_change, "k": k, "min_cos": min_cos, "keep_stop_words": keep_stop_words,
              "neighbours": described, "importance": importance, "whole_compounds": whole_compounds}
    if min_sim is not None:
        params.update(min_sim=min_sim, sim_window=sim_window)
    return _greedy(model, x, y, vocab, texts, max_change, keep_stop_words, batch_size,
                   neighbour_candidates(neighbours, vocab), True, "textfooler", params,
                   similarity if min_sim is not None else None, min_sim, importance == "delete", whole_compounds)


def deepwordbug(model: nn.Module, x: torch.Tensor, y: torch.Tensor, vocab=None, texts: Optional[Sequence[str]] = None,
                max_change: float = 0.2, keep_stop_words: bool = True, batch_size: int = 512) -> TextAttackResult:
    """DeepWordBug-style character edits: one edit per chosen word, ⌊max_change·n⌋ words at most."""
    _setup(model, x, y, vocab, "deepwordbug")
    params = {"max_change": max_change, "keep_stop_words": keep_stop_words}
    return _greedy(model, x, y, vocab, texts, max_change, keep_stop_words, batch_size,
                   char_candidates(vocab), False, "deepwordbug", params)


def hotflip(model: nn.Module, x: torch.Tensor, y: torch.Tensor, vocab=None, texts: Optional[Sequence[str]] = None,
            max_change: float = 0.2, beam: int = 10, neighbours: Optional[torch.Tensor] = None,
            keep_stop_words: bool = True, batch_size: int = 512) -> TextAttackResult:
    """HotFlip word flips (module doc); ``neighbours`` (V×K ids) restricts flips to them when given."""
    _setup(model, x, y, vocab, "hotflip")
    if beam < 1:
        raise ValueError(f"expected beam >= 1, got {beam}")
    params = {"max_change": max_change, "beam": beam, "keep_stop_words": keep_stop_words}
    with model_state(model, train=False, freeze=True):
        st = _State(model, x, y, vocab, texts, max_change, keep_stop_words, batch_size)
        table = model.embed(torch.arange(len(vocab))[None])[0].detach()  # V×E
        banned = torch.zeros(len(vocab), dtype=torch.bool)
        banned[[vocab.pad_id, vocab.unk_id]] = True
        if neighbours is not None:
            allow_w = torch.zeros(len(vocab), len(vocab), dtype=torch.bool)
            rows, cols = torch.nonzero(neighbours >= 0, as_tuple=True)
            allow_w[rows, neighbours[rows, cols]] = True
        for _ in range(int(st.budget.max()) if len(x) else 0):
            act = torch.nonzero(st.active()).flatten()
            if not len(act):
                break
            jobs = []
            for chunk in act.split(max(1, 2**22 // max(1, x.shape[1] * len(vocab)))):
                ids = st.cur[chunk]
                e = model.embed(ids).detach().requires_grad_(True)
                loss = F.cross_entropy(model.forward_embeddings(e, token_mask(model, ids)), y[chunk], reduction="sum")
                (g,) = torch.autograd.grad(loss, e)
                gain = g @ table.T - (g * e.detach()).sum(-1, keepdim=True)  # n×L×V first-order loss change
                ok = st.allowed[chunk] & (st.cur[chunk] == x[chunk])  # a position flips once
                gain = gain.masked_fill(~ok[..., None] | banned, float("-inf"))
                gain.scatter_(2, ids[..., None], float("-inf"))
                if neighbours is not None:
                    gain = gain.masked_fill(~allow_w[x[chunk]], float("-inf"))
                top = gain.flatten(1).topk(min(beam, gain[0].numel()), dim=1)
                for r, i in enumerate(chunk.tolist()):
                    st.queries[i] += 1
                    flips = [(int(f) // len(vocab), int(f) % len(vocab)) for v, f in zip(top.values[r], top.indices[r])
                             if v > float("-inf")]
                    for pos, w in flips:  # one job per flip: candidates at different positions
                        jobs.append((i, pos, [(w, vocab.tokens[w])]))
            _try_best_flip(st, jobs)
        return st.result("hotflip", params)


def _try_best_flip(st: _State, jobs) -> None:
    """Query every flip of every text in one pass; each text keeps its best flip (if it helps)."""
    if not jobs:
        return
    owner = torch.tensor([i for i, _, _ in jobs])
    lab = st.y[owner]
    p, pred = substitution_prob(st.model, st.cur, owner, torch.tensor([p for _, p, _ in jobs]),
                                torch.tensor([c[0][0] for _, _, c in jobs]), lab, st.bs)
    by_text: Dict[int, List[int]] = {}
    for j, (i, _, _) in enumerate(jobs):
        by_text.setdefault(i, []).append(j)
    for i, js in by_text.items():
        st.queries[i] += len(js)
        j = js[_choose(p[js], pred[js], int(st.y[i]), False)]
        if pred[j] != st.y[i] or p[j] < st.p[i]:
            _, pos, c = jobs[j]
            st.cur[i, pos] = c[0][0]
            st.p[i], st.pred[i] = p[j], pred[j]
        else:
            st.budget[i] = st.edits[i]  # no flip lowers p_y: stop this text


TextFooler = register_attack_fn("textfooler", textfooler, "TextFooler", "Class form of :func:`textfooler`.",
                                domains=("token",), ensemble=True)
DeepWordBug = register_attack_fn("deepwordbug", deepwordbug, "DeepWordBug", "Class form of :func:`deepwordbug`.",
                                 domains=("token",), ensemble=True)
HotFlip = register_attack_fn("hotflip", hotflip, "HotFlip", "Class form of :func:`hotflip`.",
                             domains=("token",), ensemble=True)
