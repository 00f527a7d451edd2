import os

# Torch/OpenMP threads spin while idle by default; on a shared 2-core machine that makes every
# other process (and the subprocess tests) several times slower. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env():
    """Environment for subprocess runs of the CLI: same interpreter and package, passive threads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


@pytest.fixture
def python():
    return sys.executable


def _fit_digits(model="mlp", steps=300, seed=0, batch=128, x=None, y=None, **model_kw):
    """A tiny digits classifier (``create_model(model, **model_kw)``) trained by a plain Adam loop
    (lr 3e-3, ``steps`` batches drawn with a seeded generator) on ``x, y`` (default: the digits train
    split); returned in eval mode with no ``.grad``. Not the project's trainer, on purpose: the
    attack, metric, report and detector tests need a trained model without depending on it."""
    import torch
    import torch.nn.functional as F

    from nnsafety.data import load_dataset
    from nnsafety.models import create_model

    if x is None:
        x, y = load_dataset("digits", split="train").tensors()
    torch.manual_seed(seed)
    net = create_model(model, 10, (1, 8, 8), **model_kw)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.zero_grad(set_to_none=True)
    return net.eval()


@pytest.fixture(scope="session")
def fit_digits():
    """``fit_digits(model="mlp", steps=300, seed=0, batch=128, x=None, y=None, **model_kw)``."""
    return _fit_digits



def _bag_of_words(weights, pad_id=0):
    """A text classifier with known answers: the logit of class 1 is Σ_t w[id_t] over real tokens,
    class 0 its negative (embed dim 1: e_t = w[id_t]); it has the embed/forward_embeddings seam."""
    import torch

    class BagOfWords(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(len(weights), 1, padding_idx=pad_id)
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(weights, dtype=torch.float32)[:, None])
            self.pad_id = pad_id

        def embed(self, ids):
            return self.embedding(ids)

        def mask(self, ids):
            return ids != self.pad_id

        def forward_embeddings(self, e, mask):
            s = (e[..., 0] * mask).sum(1)
            return torch.stack([-s, s], dim=1)

        def forward(self, ids):
            return self.forward_embeddings(self.embed(ids), self.mask(ids))

    return BagOfWords()


@pytest.fixture
def bag_of_words():
    """``bag_of_words(weights, pad_id=0)``: the known-answer text model of ``_bag_of_words``."""
    return _bag_of_words


def _write_digits_run(folder, model, seed=0, width=32):
    """A run directory written by hand (config.json + model.safetensors) around a digits MLP of
    ``width`` units, as the trainer would write it; no trainer needed."""
    from nnsafety import runs

    folder.mkdir(parents=True)
    spec = {"name": "mlp", "num_classes": 10, "in_shape": [1, 8, 8], "mean": None, "std": None,
            "kwargs": {"width": width}}
    runs.write_json_atomic(folder / runs.CONFIG, {"model": spec, "data": {"name": "digits", "num_classes": 10,
                                                                         "in_shape": [1, 8, 8]},
                                                  "method": {"name": "erm"}, "train": {"epochs": 1}, "seed": seed})
    runs.save_weights(model, folder / runs.WEIGHTS)
    return folder


@pytest.fixture(scope="session")
def write_digits_run():
    """``write_digits_run(folder, model, seed=0, width=32) -> folder``."""
    return _write_digits_run


@pytest.fixture(scope="session")
def malware_data() -> Path:
    """``data/malware`` (MalConv run + real PE files) fetched by ``make data-malware``; skip without it."""
    root = REPO / "data" / "malware"
    if not (root / ".done").is_file():
        pytest.skip("needs the real executables and MalConv weights: run `make data-malware`")
    return root


def _check_feature_constraints(dom, x0, x) -> None:
    """Every constraint of FeatureDomain ``dom`` on a change x0 → x (N×D tensors), written out per
    feature (an independent check of ``dom.project`` / ``dom.is_valid`` and of the attacks' outputs)."""
    import torch

    lo, hi = torch.tensor(dom.lower), torch.tensor(dom.upper)
    assert ((x >= lo) & (x <= hi)).all()
    for j, kind in enumerate(dom.kinds):
        if kind != "real":
            assert torch.equal(x[:, j], torch.round(x[:, j]))
        if kind == "binary":
            assert set(x[:, j].tolist()) <= {0.0, 1.0}
        if not dom.mutable[j]:
            assert torch.equal(x[:, j], x0[:, j])
        if dom.direction[j] > 0:
            assert (x[:, j] >= x0[:, j]).all()
        if dom.direction[j] < 0:
            assert (x[:, j] <= x0[:, j]).all()


@pytest.fixture(scope="session")  # session scope: hypothesis's @given tests may take it
def check_feature_constraints():
    return _check_feature_constraints

