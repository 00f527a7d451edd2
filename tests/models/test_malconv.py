"""MalConv: the shortened padding is exact, and the converted EMBER weights score real files as the
original secml-malware forward pass does (Conv1d on the 1 MB input, sigmoid of one logit)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nnsafety.data.pe_files import bytes_to_batch
from nnsafety.models import create_model, list_models
from nnsafety.models.malconv import MalConv, scoring_precision, secml_state_dict


def reference_scores(state, ids: torch.Tensor, max_len: int) -> torch.Tensor:
    """secml-malware's MalConv forward, written out: pad to max_len, two Conv1d, gate, max, dense;
    P(malicious) = sigmoid(z) with z the second logit minus the first."""
    ids = F.pad(ids[:, :max_len], (0, max_len - min(ids.shape[1], max_len)), value=256)
    e = F.embedding(ids, state["embedding.weight"]).transpose(1, 2)
    a = F.conv1d(e, state["conv.weight"], state["conv.bias"], stride=500)
    g = F.conv1d(e, state["gate.weight"], state["gate.bias"], stride=500)
    h = torch.relu(F.linear((torch.relu(a) * torch.sigmoid(g)).amax(dim=2), state["fc.weight"], state["fc.bias"]))
    z = F.linear(h, state["head.weight"], state["head.bias"])
    return torch.sigmoid(z[:, 1] - z[:, 0])


def test_registered_for_bytes_only():
    assert "malconv" in list_models(domain="bytes")
    assert "malconv" not in list_models(domain="image")
    model = create_model("malconv", 2, (4000,))
    assert isinstance(model, MalConv) and model.max_len == 4000


@pytest.mark.parametrize("length", [1, 499, 500, 501, 1999, 3500, 3999, 4000, 4300, 9000])
def test_short_padding_equals_full_input(length):
    """Any length gives the output of the file padded (or cut) to max_len, as the paper's model reads it."""
    torch.manual_seed(length)
    model = MalConv(max_len=4100, channels=16).eval()  # 8 windows; the last 100 bytes fall in none
    ids = torch.randint(0, 256, (3, length))
    ids[1, length // 2:] = 256  # a shorter file in the same batch
    with torch.no_grad():
        ours = model(ids).softmax(1)[:, 1]
        ref = reference_scores(model.state_dict(), ids, 4100)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_embedding_seam_gives_the_same_logits():
    torch.manual_seed(0)
    model = MalConv(max_len=3000, channels=8).eval()
    ids = torch.randint(0, 256, (2, 1234))
    with torch.no_grad():
        torch.testing.assert_close(model.forward_embeddings(model.embed(ids)), model(ids))
    assert model.embed(ids).shape == (2, 2000, 8)  # 3 windows of the file + 1 all-pad window


def test_rejects_wrong_weights_file(tmp_path):
    bad = tmp_path / "pretrained_malconv.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="expected secml-malware 0.4's pretrained_malconv.pth"):
        secml_state_dict(bad)


def test_pretrained_scores_match_reference_forward(malware_data):
    from nnsafety.runs import load_run

    model = load_run(malware_data / "malconv").model
    names = ["benign/setuptools/cli-32.exe", "benign/setuptools/gui-64.exe", "malicious/clamav/clam-mew.exe",
             "malicious/clamav/clam-upx.exe", "malicious/clamav/clam-petite.exe"]
    small = [malware_data / "pe" / n for n in names]
    ids = bytes_to_batch([f.read_bytes() for f in small])
    with torch.no_grad():
        ours = model(ids).softmax(1)[:, 1]
        ref = reference_scores(model.state_dict(), ids, 2 ** 20)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)
    # launchers benign, MEW- and Petite-packed test files flagged, the UPX one not (EMBER MalConv)
    assert (ours[:2] < 0.01).all() and ours[2] > 0.99 and ours[3] < 0.5 and ours[4] > 0.9


def test_bf16_scoring_stays_close_and_is_restored():
    """``scoring_precision``: the window GEMM in bfloat16 moves P(malicious) by little against the
    float32 forward (a random MalConv, 3 files of 3,000 bytes), and float32 comes back on exit."""
    torch.manual_seed(0)
    model = MalConv(max_len=5000, channels=16).eval()
    x = torch.randint(0, 256, (3, 3000))
    with torch.no_grad():
        p32 = model(x).softmax(1)
        with scoring_precision(model) as m:
            assert m.matmul_dtype == torch.bfloat16
            p16 = model(x).softmax(1)
        assert model.matmul_dtype == torch.float32 and torch.equal(model(x).softmax(1), p32)
    assert (p16 - p32).abs().max() < 2e-2 and not torch.equal(p16, p32)


def _files_with_repeats(seed: int) -> torch.Tensor:
    """4 files of 7,000 bytes whose windows repeat as in real PE files: zero runs, 0xCC alignment
    padding, a header shared by two files, plus random windows; one file ends early (pad 256)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (4, 7000), generator=g)
    x[:, 1000:2500] = 0
    x[1:3, 3000:4000] = 0xCC
    x[3, :500] = x[0, :500]
    x[2, 5200:] = 256
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_window_dedup_is_bit_identical(seed, monkeypatch):
    """Scores with each distinct window computed once equal, to the last bit, those with every window
    computed, at any chunk size (small chunks exercise the ≥ MIN_ROWS padding of the product), and
    when a forced hash collision makes the dedup fall back."""
    torch.manual_seed(seed)
    model = MalConv(max_len=8000, channels=16).eval()
    x = _files_with_repeats(seed)
    with torch.no_grad():
        model.dedup = False
        plain = model(x)
        model.dedup = True
        assert torch.equal(model(x), plain)
        monkeypatch.setattr(MalConv, "CHUNK", 5)
        assert torch.equal(model(x), plain)
        small = model(x[:1, :600])  # 3 window rows: one product padded to MIN_ROWS
        model.dedup = False
        assert torch.equal(model(x[:1, :600]), small)
        model.dedup = True
        monkeypatch.setattr("nnsafety.models.malconv._HASH", torch.zeros(1024, dtype=torch.int64))
        assert torch.equal(model(x), plain)


def test_distinct_rows_matches_unique():
    """``distinct_rows`` groups exactly the equal windows: as many groups as ``torch.unique(dim=0)``
    finds, each row equal to its representative; a hash that joins different rows gives None."""
    from nnsafety.models import malconv

    rows = _files_with_repeats(3)[:, :7000].reshape(-1, 500)
    first, inverse = malconv.distinct_rows(rows)
    assert torch.equal(rows[first][inverse], rows)
    assert first.numel() == torch.unique(rows, dim=0).shape[0] < rows.shape[0]
    saved = malconv._HASH
    try:
        malconv._HASH = torch.zeros_like(saved)
        assert malconv.distinct_rows(rows) is None
    finally:
        malconv._HASH = saved
