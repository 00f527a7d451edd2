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

    for lister in (list_attacks, list_triggers, list_detectors, list_noise_families):
        assert set(lister(domain="image")) <= set(lister())
    assert {"textfooler", "deepwordbug", "hotflip"} <= set(list_attacks(domain="token")) - set(list_attacks("image"))
    assert list_corruptions(domain="image") == list_corruptions()
    assert list_noise_families(domain="feature") == ["gaussian", "uniform"]
