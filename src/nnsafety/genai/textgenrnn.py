"""The pretrained ``textgenrnn`` character generator (Max Woolf, PyPI package textgenrnn 2.0.0),
ported to torch: the same network, its released weights, behind the one ``CausalLM`` interface.

Network (``textgenrnn/model.py``): the last 40 characters, left-padded with id 0 -> embedding
(465 × 100) -> LSTM 128 -> LSTM 128 (sigmoid gates, the CuDNN cell) -> concatenation of the
embedding and both LSTM outputs (356 per step) -> attention-weighted average over the 40 steps
(one weight per channel, softmax over steps) -> dense softmax over 465 ids; 462,717 parameters.
Id 0 is padding, ids 1..464 are characters plus the meta token ``<s>`` that starts and ends a text.

Weights: the package ships a Keras 2.1.5 HDF5 file saved from a ``CuDNNLSTM``; ``convert`` turns it
into safetensors once (``make data-genai``; needs h5py) with Keras' own CuDNN -> LSTM rule: each
gate's input kernel k becomes ``k.T.reshape(k.shape, order="F")``, each recurrent kernel ``k.T``,
and the two bias halves are summed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .lm import CausalLM

META = "<s>"
WINDOW = 40
DEFAULT_DIR = Path("data") / "genai" / "textgenrnn"


class TextgenTokenizer:
    """Characters of the textgenrnn vocabulary; ``<s>`` is one token; unknown characters -> 0 (as
    textgenrnn encodes them)."""

    name = "textgenrnn"

    def __init__(self, vocab: Dict[str, int]) -> None:
        self.vocab = dict(vocab)
        self.chars = {i: c for c, i in self.vocab.items()}

    def __len__(self) -> int:
        return len(self.vocab) + 1

    def encode(self, text: str) -> List[int]:
        if not isinstance(text, str):
            raise ValueError(f"expected text to encode, got {type(text).__name__}")
        ids: List[int] = []
        for k, part in enumerate(text.split(META)):
            if k:
                ids.append(self.vocab[META])
            ids.extend(self.vocab.get(c, 0) for c in part)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars.get(int(i), "") for i in ids)


class TextgenRNN(nn.Module):
    """``forward(ids)`` N×L -> next-token logits N×L×V; position t sees the window of the 40 ids
    ending at t, left-padded with 0, exactly as textgenrnn predicts."""

    block_size = None  # any length: each position reads its own 40-id window

    def __init__(self, vocab_size: int = 465, dim: int = 100, hidden: int = 128) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.rnn_1 = nn.LSTM(dim, hidden, batch_first=True)
        self.rnn_2 = nn.LSTM(hidden, hidden, batch_first=True)
        self.attention = nn.Parameter(torch.zeros(dim + 2 * hidden))
        self.output = nn.Linear(dim + 2 * hidden, vocab_size)

    def window_logits(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits of the id after each window (M×40 ids) -> M×V."""
        e = self.embedding(windows)
        h1, _ = self.rnn_1(e)
        h2, _ = self.rnn_2(h1)
        x = torch.cat([e, h1, h2], dim=-1)
        a = torch.softmax(x @ self.attention, dim=1)
        return self.output((a.unsqueeze(-1) * x).sum(dim=1))

    def new_cache(self) -> List[dict]:
        """A cache for ``CausalLM``'s incremental decoding: it keeps the ids seen so far, so a step
        computes the window of the new position only (not every position's again)."""
        return [{}]

    def forward(self, ids: torch.Tensor, cache: Optional[List[dict]] = None) -> torch.Tensor:
        new = ids.shape[1]
        if cache is not None:
            ids = ids if "ids" not in cache[0] else torch.cat([cache[0]["ids"], ids], dim=1)
            cache[0]["ids"] = ids
        n, length = ids.shape
        padded = torch.cat([ids.new_zeros(n, WINDOW - 1), ids], dim=1)
        windows = padded.unfold(1, WINDOW, 1)[:, length - new:]  # the window ending at each new position
        return self.window_logits(windows.reshape(n * new, WINDOW)).view(n, new, -1)


def convert(hdf5: str | Path, vocab_json: str | Path, out_dir: str | Path = DEFAULT_DIR) -> Path:
    """Write ``textgenrnn.safetensors`` and ``vocab.json`` into ``out_dir`` from the package's files."""
    import h5py
    from safetensors.torch import save_file

    def per_gate(kernel: np.ndarray, fn) -> np.ndarray:
        return np.hstack([fn(k) for k in np.hsplit(kernel, 4)])

    state: Dict[str, torch.Tensor] = {}
    with h5py.File(str(hdf5), "r") as f:
        # "rnn_1/rnn_1/kernel:0" -> "rnn_1.kernel"
        w = {f"{name.split('/')[0]}.{name.split('/')[-1].split(':')[0]}": np.asarray(f[name]) for name in _datasets(f)}
    state["embedding.weight"] = torch.from_numpy(w["embedding.embeddings"])
    state["attention"] = torch.from_numpy(w["attention.attention_W"][:, 0].copy())
    state["output.weight"] = torch.from_numpy(w["output.kernel"].T.copy())
    state["output.bias"] = torch.from_numpy(w["output.bias"])
    for layer in ("rnn_1", "rnn_2"):
        kernel = per_gate(w[f"{layer}.kernel"], lambda k: k.T.reshape(k.shape, order="F"))
        recurrent = per_gate(w[f"{layer}.recurrent_kernel"], lambda k: k.T)
        bias = np.sum(np.split(w[f"{layer}.bias"], 2), axis=0)
        # Keras and torch share the gate order (input, forget, cell, output); torch stores W as 4H × in
        state[f"{layer}.weight_ih_l0"] = torch.from_numpy(np.ascontiguousarray(kernel.T))
        state[f"{layer}.weight_hh_l0"] = torch.from_numpy(np.ascontiguousarray(recurrent.T))
        state[f"{layer}.bias_ih_l0"] = torch.from_numpy(bias)
        state[f"{layer}.bias_hh_l0"] = torch.zeros_like(state[f"{layer}.bias_ih_l0"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in state.items()}, str(out / "textgenrnn.safetensors.tmp"))
    (out / "textgenrnn.safetensors.tmp").replace(out / "textgenrnn.safetensors")
    vocab = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
    (out / "vocab.json.tmp").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "vocab.json.tmp").replace(out / "vocab.json")
    return out


def _datasets(f) -> List[str]:
    names: List[str] = []
    f.visititems(lambda name, obj: names.append(name) if hasattr(obj, "shape") else None)
    return names


def load_textgenrnn(folder: str | Path = DEFAULT_DIR, **kwargs) -> CausalLM:
    """The converted textgenrnn as a ``CausalLM`` (texts start and stop at ``<s>``: prompt with
    ``"<s>" + prefix``). ``kwargs`` go to ``CausalLM`` (max_new_tokens, top_k, seed, ...)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "textgenrnn.safetensors").is_file():
        raise FileNotFoundError(f"expected the converted textgenrnn weights in {folder}; run `make data-genai`")
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    model = TextgenRNN(len(vocab) + 1)
    model.load_state_dict(load_file(str(folder / "textgenrnn.safetensors")))
    kwargs.setdefault("max_new_tokens", 120)
    return CausalLM(model.eval(), TextgenTokenizer(vocab), stop=META, **kwargs)
