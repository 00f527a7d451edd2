"""A clean and a clearly backdoored digits MLP, trained once per session with a plain torch loop."""
import pytest

from nnsafety.data.poison import poison_dataset
from nnsafety.data import load_dataset


@pytest.fixture(scope="session")
def backdoor_pair(fit_digits):
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    poisoned = poison_dataset(train, "badnets", rate=0.05, target=0, seed=0, size=3, pattern="white")
    mlp = dict(model="mlp", steps=300, seed=1, width=128, depth=1)
    clean = fit_digits(x=train.tensors()[0], y=train.tensors()[1], **mlp)
    bad = fit_digits(x=poisoned.tensors()[0], y=poisoned.tensors()[1], **mlp)
    return {"train": train, "test": test, "poisoned": poisoned, "clean": clean, "backdoored": bad}
