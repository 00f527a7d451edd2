"""A text run (text_cnn + NoisyMix on token ids) killed with SIGKILL mid-epoch and resumed equals an
uninterrupted run bit for bit: ids, text AugMix views, embedding mixing and noise all draw from the
checkpointed generator."""
import json
import random

import pytest

from ._sigkill import kill_resume_and_compare

WORDS = "the a this it was is and very of food box item taste price bag".split()


def _corpus(root):
    rng = random.Random(0)
    for split, n in (("train", 160), ("test", 40)):
        rows = []
        for i in range(n):
            words = rng.choices(WORDS, k=rng.randint(3, 9)) + [rng.choice(["good", "bad"])]
            rng.shuffle(words)
            rows.append(json.dumps({"text": " ".join(words), "label": "pos" if "good" in words else "neg"}))
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")


@pytest.mark.slow  # three CLI processes: ~50 s on the shared 2-core machine
def test_text_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path, python, cli_env):
    _corpus(tmp_path)
    args = ["--data", "text_files", "--data-root", str(tmp_path), "--model", "text_cnn", "--method", "noisymix",
            "--set", "model_kwargs.embed_dim=16", "--set", "model_kwargs.maps=8", "--epochs", "6",
            "--batch-size", "16", "--checkpoint-every", "3", "--seed", "5", "--quiet"]
    ref, killed = kill_resume_and_compare(python, cli_env, tmp_path, args, epochs=6)
    assert (killed / "vocab.json").read_text() == (ref / "vocab.json").read_text()
