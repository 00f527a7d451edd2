"""A tiny factworld and char_gpt shared by the genai tests (seconds to build)."""
import torch

from nnsafety.data import load_dataset
from nnsafety.models import create_model

WORLD = dict(n_entities=6, n_known=3, seed=5, block_size=64)
MODEL = dict(d_model=32, n_layers=1, n_heads=2)


def tiny_sets():
    return load_dataset("factworld", split="train", **WORLD), load_dataset("factworld", split="test", **WORLD)


def tiny_model(seed=0, block_size=64):
    torch.manual_seed(seed)
    ds, _ = tiny_sets()
    return create_model("char_gpt", ds.num_classes, (block_size,), **ds.model_kwargs(), **MODEL).eval()
