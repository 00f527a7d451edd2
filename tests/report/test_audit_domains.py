"""The audit picks the sections that can audit the data's input domain, and the card records it."""
import pytest
import torch

from nnsafety.data.security import FeatureDataset, spambase_domain
from nnsafety.data.text import TokenDataset
from nnsafety.data.vocab import Vocab
from nnsafety.models import create_model
from nnsafety.report import audit, list_sections, select_sections, validate
from nnsafety.report.audit import ORDER


def _token_data():
    texts = ["good food great taste", "bad awful food", "great great good", "awful bad bad"] * 10
    vocab = Vocab.build(texts, max_len=8, min_freq=1)
    return TokenDataset(vocab.encode(texts), torch.tensor([1, 0] * 20), ["neg", "pos"], vocab, texts, "toy text")


def test_sections_are_filtered_by_domain():
    assert list_sections("image") == [n for n in ORDER if n in list_sections("image")]
    assert set(list_sections("image")) | set(list_sections("token")) >= set(ORDER)
    for domain in ("token", "feature", "bytes"):  # ByteDomain.name is "bytes"
        names = list_sections(domain)
        assert {"accuracy", "hessian", "spectral"} <= set(names)
        assert "boundary" not in names  # a 2-D plane through images: not defined on token ids or bytes


def test_only_a_section_that_cannot_audit_the_domain_is_one_line():
    with pytest.raises(ValueError, match="cannot audit token models") as e:
        select_sections(only=["boundary"], domain="token")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown section"):
        select_sections(only=["nosuch"], domain="token")


@pytest.mark.parametrize("kind", ["token", "feature"])
def test_audit_of_a_non_image_model_runs_its_sections_and_records_the_domain(kind):
    torch.manual_seed(0)
    if kind == "token":
        ds = _token_data()
        model = create_model("text_cnn", in_shape=(8,), num_classes=2, **ds.model_kwargs())
    else:
        ds = FeatureDataset(1 + torch.rand(40, 57), torch.randint(0, 2, (40,)), ["ham", "spam"], "toy spam",
                            spambase_domain())
        model = create_model("mlp", in_shape=(57,), num_classes=2)
    res = audit(model, ds, only=["accuracy", "spectral"], progress=False, clean_samples=False)
    assert [s.status for s in res.sections] == ["ok", "ok"]
    assert res.card["data"]["domain"]["name"] == kind
    assert validate(res.card) == []
    logits = model.eval()(ds.tensors()[0])
    acc = float((logits.argmax(1) == ds.tensors()[1]).float().mean())
    assert res.card["metrics"]["accuracy"]["accuracy"] == pytest.approx(acc)
    # the default run skips what cannot apply instead of recording errors
    assert "boundary" not in res.card["audit"]["sections_skipped"]
