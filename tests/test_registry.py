"""The shared registry: domain tags, filtering, and the families that record them."""
import pytest

from nnsafety._registry import Registry


def test_entries_record_their_domains_and_names_filter_by_domain():
    reg = Registry("widget")

    @reg.register("a")
    def a():
        pass

    @reg.register_named("b", domains=("token", "image"))
    class B:
        pass

    assert reg.domains("a") == ("image",) and B.domains == ("token", "image") and B.name == "b"
    assert reg.names() == ["a", "b"] and reg.names("token") == ["b"] and reg.names("bytes") == []
    with pytest.raises(ValueError, match="unknown widget 'c'; expected one of: a, b"):
        reg.domains("c")


def test_every_family_lists_by_domain():
    from nnsafety.attacks import list_attacks
    from nnsafety.backdoor import list_triggers
    from nnsafety.backdoor.detectors import list_detectors
    from nnsafety.corruptions import list_corruptions
    from nnsafety.metrics.noise_response import list_noise_families

    for lister in (list_triggers, list_detectors, list_noise_families):
        assert set(lister(domain="image")) <= set(lister())
    # the malware attacks (bytes), the text attacks and the greedy feature attack have no images
    only_other = set(list_attacks(domain="bytes")) | set(list_attacks(domain="token")) | {"greedy"}
    assert list_attacks(domain="feature") == ["apgd", "fgsm", "greedy", "pgd"]
    assert list_attacks(domain="image") == [a for a in list_attacks() if a not in only_other]
    assert {"textfooler", "deepwordbug", "hotflip"} <= set(list_attacks(domain="token")) - set(list_attacks("image"))
    assert list_corruptions(domain="image") == list_corruptions()
    assert list_noise_families(domain="feature") == ["gaussian", "uniform"]


def test_units_refuse_a_domain_they_are_not_registered_for():
    import torch

    from nnsafety.backdoor import create_trigger
    from nnsafety.backdoor.detectors import DetectionContext, create_detector
    from nnsafety.corruptions import corrupt
    from nnsafety.domains import ImageDomain, TokenDomain

    x = torch.rand(2, 1, 8, 8)
    tokens = TokenDomain(vocab_size=10)
    assert torch.equal(corrupt(x, "fog", 1, torch.Generator().manual_seed(0), domain=ImageDomain()),
                       corrupt(x, "fog", 1, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="corruption 'fog' supports image inputs, got a token domain"):
        corrupt(x, "fog", 1, domain=tokens)
    with pytest.raises(ValueError, match="trigger 'badnets' supports image inputs, got a token domain"):
        create_trigger("badnets").apply(x, domain=tokens)
    ctx = DetectionContext(in_shape=(1, 8, 8), num_classes=10, domain=tokens)
    with pytest.raises(ValueError, match="detector 'weights' supports image inputs, got a token domain"):
        create_detector("weights").detect(torch.nn.Linear(64, 10), ctx)
