"""ONION: the one-pass suspicion scores equal perplexities recomputed per deletion, and the filter
takes a rare trigger word out of fluent text."""
from __future__ import annotations

import math

import pytest
import torch

from nnsafety.backdoor.onion import BigramLM, onion_evaluate, onion_filter
from nnsafety.data.triggers import create_trigger
from nnsafety.data.vocab import Vocab, tokenize

TRAIN = ["the coffee is great and the tea is fine", "the tea is bad and the coffee is awful",
         "i like the coffee", "i do not like the tea", "great coffee , great price !"] * 4


def test_bigram_probabilities_sum_to_one():
    lm = BigramLM(TRAIN)
    for prev in ("the", "<s>", "never-seen"):
        total = sum(math.exp(lm.logp(prev, w)) for w in lm.uni) + math.exp(lm.logp(prev, "never-seen-word"))
        assert total == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("text", ["the coffee is cf great", "cf", "i like mn the tea !", ""])
def test_suspicion_equals_perplexity_recomputed_for_each_deletion(text):
    lm = BigramLM(TRAIN)
    words = tokenize(text)
    f = lm.suspicion(words)
    p0 = lm.perplexity(words)
    slow = [p0 - lm.perplexity(words[:i] + words[i + 1:]) for i in range(len(words))]
    assert f.tolist() == pytest.approx(slow, rel=1e-10)


def test_filter_removes_the_rare_word_and_keeps_the_text(bag_of_words):
    lm = BigramLM(TRAIN)
    assert onion_filter(["the coffee is cf great and the tea is fine", "i like the cf coffee"], lm) == [
        "the coffee is great and the tea is fine", "i like the coffee"]
    assert onion_filter(["the tea is cf bad"], lm, threshold=float("inf")) == ["the tea is cf bad"]
    # a model that answers "class 1" whenever it sees "cf": ONION takes the trigger out before it
    texts = ["i do not like the tea", "the coffee is awful"] * 3
    vocab = Vocab.build(TRAIN + ["cf"], max_len=12, min_freq=1)
    w = torch.zeros(len(vocab))
    w[vocab.tokens.index("cf")] = 5.0
    w[vocab.tokens.index("tea")] = w[vocab.tokens.index("awful")] = -1.0
    res = onion_evaluate(bag_of_words(w.tolist()), vocab, texts, torch.zeros(len(texts), dtype=torch.long),
                         create_trigger("rare_word", words=["cf"], position="random"), 1, lm, thresholds=(0.0,))
    assert res.asr == 1.0 and res.asr_filtered == [0.0]
    assert res.clean_accuracy == res.clean_accuracy_filtered[0] == 1.0
