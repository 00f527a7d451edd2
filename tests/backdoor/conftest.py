"""A clean and a clearly backdoored digits MLP, trained once per session with a plain torch loop."""
import pytest
import torch
import torch.nn.functional as F

from nnsafety.backdoor.poison import poison_dataset
from nnsafety.data import load_dataset
from nnsafety.models import create_model


def _fit(train_x, train_y, seed, steps=300):
    torch.manual_seed(seed)
    model = create_model("mlp", 10, (1, 8, 8), width=128, depth=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(train_x.shape[0], (128,), generator=g)
        loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def backdoor_pair():
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    poisoned = poison_dataset(train, "badnets", rate=0.05, target=0, seed=0, size=3, pattern="white")
    clean = _fit(*train.tensors(), seed=1)
    bad = _fit(*poisoned.tensors(), seed=1)
    return {"train": train, "test": test, "poisoned": poisoned, "clean": clean, "backdoored": bad}
