"""One ``generate`` interface over causal language models: temperature, top-k, seed, batch.

``CausalLM(model, tokenizer)`` wraps any module mapping ids N×L to next-token logits N×L×V (a
registered ``char_gpt``, a user's module, or a Hugging Face causal LM whose output has ``.logits``:
``load_hf_lm(folder)``) with a tokenizer (``encode(str) -> ids``,
``decode(ids) -> str``). Calling it as ``lm(prompts, n, temperature)`` makes it a generator for
``semantic_entropy`` and ``sample_sets``: it returns ``Generations`` with each answer's sequence
log-probability under the model (temperature 1, summed over the answer's tokens and the stop
token, in nats) and its token count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .._model import model_device, model_state
from ..data.chars import CHARS
from ..runs import load_run
from .sampling import Generations, check_n, check_prompts


class CausalLM:
    """A causal LM plus its tokenizer; answers end at ``stop`` (a single token) or ``max_new_tokens``."""

    def __init__(self, model: nn.Module, tokenizer, stop: str = "\n", max_new_tokens: int = 24,
                 top_k: Optional[int] = None, seed: int = 0, batch_size: int = 256) -> None:
        if tokenizer is None or not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
            raise ValueError(f"expected a tokenizer with encode/decode for the language model, got "
                             f"{type(tokenizer).__name__ if tokenizer is not None else 'none'}")
        stop_ids = _encode(tokenizer, stop, special=False)
        if len(stop_ids) != 1:
            raise ValueError(f"expected a stop string that is one token, got {stop!r} ({len(stop_ids)} tokens)")
        if max_new_tokens < 1 or batch_size < 1 or (top_k is not None and top_k < 1):
            raise ValueError(f"expected max_new_tokens, batch_size and top_k >= 1, got {max_new_tokens}, "
                             f"{batch_size}, {top_k}")
        self.model, self.tokenizer, self.stop_id = model, tokenizer, stop_ids[0]
        self.max_new_tokens, self.top_k, self.seed, self.batch_size = max_new_tokens, top_k, seed, batch_size
        config = getattr(model, "config", None)  # a Hugging Face model's longest context
        self.block_size = getattr(model, "block_size", None) or getattr(config, "max_position_embeddings", None)

    def __call__(self, prompts: Sequence[str], n: int, temperature: float) -> Generations:
        return self.generate(prompts, n=n, temperature=temperature)

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 1.0,
                 top_k: Optional[int] = None, seed: Optional[int] = None) -> Generations:
        """``n`` continuations of each prompt; ``temperature=0`` is greedy (argmax), otherwise tokens
        are drawn from softmax(logits / temperature) restricted to the ``top_k`` most likely. Prompts
        of equal token length are batched together; the same seed gives the same answers."""
        prompts, n = check_prompts(prompts), check_n(n)
        if temperature < 0:
            raise ValueError(f"expected temperature >= 0 (0 = greedy), got {temperature}")
        top_k = self.top_k if top_k is None else top_k
        gen = torch.Generator().manual_seed(self.seed if seed is None else seed)
        encoded = [_encode(self.tokenizer, p) for p in prompts]
        if any(len(e) == 0 for e in encoded):
            raise ValueError("expected every prompt to encode to at least one token, got an empty prompt")
        by_length: Dict[int, List[int]] = {}
        for i, e in enumerate(encoded):
            by_length.setdefault(len(e), []).append(i)
        texts: List[List[str]] = [[] for _ in prompts]
        logprobs: List[List[float]] = [[] for _ in prompts]
        lengths: List[List[int]] = [[] for _ in prompts]
        device = model_device(self.model)
        with model_state(self.model, train=False):
            for length in sorted(by_length):
                rows = [i for i in by_length[length] for _ in range(n)]
                for start in range(0, len(rows), self.batch_size):
                    chunk = rows[start:start + self.batch_size]
                    ids = torch.tensor([encoded[i] for i in chunk], dtype=torch.int64, device=device)
                    out, lp, k = self._decode(ids, temperature, top_k, gen)
                    for r, i in enumerate(chunk):
                        texts[i].append(self.tokenizer.decode(out[r].tolist()))
                        logprobs[i].append(float(lp[r]))
                        lengths[i].append(int(k[r]))
        return Generations(texts=texts, logprobs=logprobs, lengths=lengths)

    @torch.no_grad()
    def score(self, texts: Sequence[str]) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """Per text, the log-probability (nats) and rank (1 = the model's top choice) of every token
        given the ones before it (the first token has no context and is not scored). Texts longer
        than the model's context are cut to it."""
        texts = check_prompts(texts)
        out = []
        device = model_device(self.model)
        with model_state(self.model, train=False):
            for t in texts:
                ids = _encode(self.tokenizer, t)
                if self.block_size is not None:
                    ids = ids[: self.block_size + 1]
                if len(ids) < 2:
                    raise ValueError(f"expected texts of at least 2 tokens to score, got {t!r}")
                x = torch.tensor([ids], dtype=torch.int64, device=device)
                res = self.model(x[:, :-1])
                logp = (res if isinstance(res, torch.Tensor) else res.logits)[0].float().log_softmax(-1).cpu()
                target = x[0, 1:].cpu()
                lp = logp.gather(1, target[:, None]).squeeze(1)
                rank = (logp > lp[:, None]).sum(1) + 1
                out.append((lp, rank))
        return out

    def _decode(self, ids: torch.Tensor, temperature: float, top_k: Optional[int],
                gen: torch.Generator) -> Tuple[List[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Token-by-token decoding of a batch of equal-length prompts; returns the answer ids (stop
        excluded), their summed log-probability (stop included) and token counts (stop included)."""
        rows = ids.shape[0]
        total = torch.zeros(rows, dtype=torch.float64)
        count = torch.zeros(rows, dtype=torch.int64)
        done = torch.zeros(rows, dtype=torch.bool)
        new: List[torch.Tensor] = []
        # a key/value cache (when the model offers one and everything fits in its context) computes
        # each step from the new token only; otherwise the (cropped) prefix is recomputed each step
        fits = self.block_size is None or ids.shape[1] + self.max_new_tokens <= self.block_size
        cache = self.model.new_cache() if hasattr(self.model, "new_cache") and fits else None
        for step in range(self.max_new_tokens):
            if cache is not None:
                logits = self.model(ids if step == 0 else ids[:, -1:], cache)[:, -1, :].float().cpu()
            else:
                context = ids if self.block_size is None else ids[:, -self.block_size:]
                out = self.model(context)
                logits = (out if isinstance(out, torch.Tensor) else out.logits)[:, -1, :].float().cpu()
            logp = logits.log_softmax(-1)
            if temperature == 0:
                tok = logits.argmax(-1)
            else:
                scaled = logits / temperature
                if top_k is not None and top_k < scaled.shape[-1]:
                    kth = scaled.topk(top_k, dim=-1).values[:, -1:]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                tok = torch.multinomial(scaled.softmax(-1), 1, generator=gen).squeeze(1)
            live = ~done
            total += torch.where(live, logp.gather(1, tok[:, None]).squeeze(1).double(), 0.0)
            count += live.long()
            new.append(torch.where(live, tok, self.stop_id))
            done |= tok == self.stop_id
            ids = torch.cat([ids, tok[:, None].to(ids.device)], dim=1)
            if bool(done.all()):
                break
        steps = torch.stack(new, dim=1) if new else torch.empty(rows, 0, dtype=torch.int64)
        answers = [row[: int((row == self.stop_id).nonzero()[0]) if (row == self.stop_id).any() else len(row)]
                   for row in steps]
        return answers, total, count


def _encode(tokenizer, text: str, special: bool = True) -> List[int]:
    """Token ids of ``text``; ``special=False`` asks a Hugging Face tokenizer for no BOS/EOS."""
    if not special:
        try:
            return list(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:  # a plain tokenizer (encode(text) only)
            pass
    return list(tokenizer.encode(text))


def load_hf_lm(path: str | Path, device: str = "cpu", **kwargs) -> CausalLM:
    """A Hugging Face causal LM saved on disk (``save_pretrained`` folder: config, weights and
    tokenizer files) as a ``CausalLM``; nothing is downloaded. Needs the optional extra
    ``nnsafety[genai]`` (transformers)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ValueError("loading a Hugging Face model needs the optional extra: pip install 'nnsafety[genai]' "
                         "(transformers)") from None
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"expected a Hugging Face model folder with config.json at {path}, found none")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        problem = None if len(_encode(tokenizer, "a b", special=False)) else "an empty vocabulary"
    except (OSError, ValueError, TypeError, KeyError) as e:
        problem = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
    # recent transformers versions build an empty tokenizer when the files are missing
    if problem is not None:
        raise ValueError(f"{path} has no tokenizer nnsafety can load (expected tokenizer files beside the "
                         f"model; got {problem})")
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True).to(device).eval()
    return CausalLM(model, tokenizer, **kwargs)


def load_lm(run_dir: str | Path, device: str = "cpu", bpe_folder: Optional[str | Path] = None,
            **kwargs) -> CausalLM:
    """A trained language-model run as a ``CausalLM``. The tokenizer is recovered from the run's
    recorded classes (the vocabulary): the character vocabulary, or a compact GPT-2 BPE vocabulary
    (pad, unknown, GPT-2 token strings; ``bpe_folder`` holds encoder.json/vocab.bpe, default
    data/genai/gpt2_bpe); a run whose vocabulary nnsafety does not know fails."""
    run = load_run(run_dir, device=device)
    classes = run.config.get("data", {}).get("classes")
    if classes == CHARS.tokens:
        return CausalLM(run.model, CHARS, **kwargs)
    if isinstance(classes, list) and classes[:2] == ["<pad>", "<unk>"]:
        from .austen import CompactBPE
        from .bpe import DEFAULT_DIR, ByteBPE

        bpe = ByteBPE.from_files(bpe_folder or DEFAULT_DIR)
        if all(t in bpe.encoder for t in classes[2:]):
            return CausalLM(run.model, CompactBPE(bpe, classes[2:]), **kwargs)
    raise ValueError(f"{run_dir} has no tokenizer nnsafety knows (expected the character or a GPT-2 BPE vocabulary "
                     f"of a language-model run, got classes {str(classes)[:60]})")
