"""The recipe-spanning zoo design: deterministic, both classes drawn from the same recipes, every
family/attacker/optimizer present, and one spec trains through ``build_zoo`` (tiny epochs)."""
import collections

import pytest

from nnsafety.backdoor.recipes import ATTACKERS, FAMILIES, recipe_spec
from nnsafety.backdoor.zoo import build_zoo, read_manifest
from nnsafety.train import TrainConfig


def test_specs_are_deterministic_balanced_and_span_the_ranges():
    specs = [recipe_spec(i) for i in range(400)]
    assert specs[17] == recipe_spec(17) and specs[17] != recipe_spec(17, seed=1)
    assert [s["backdoored"] for s in specs] == [bool(i % 2) for i in range(400)]
    clean = collections.Counter(s["method"] for s in specs if not s["backdoored"])
    bad = collections.Counter(s["method"] for s in specs if s["backdoored"])
    for m in ("erm", "noise", "mixup", "noisymix", "outlier_exposure"):  # same recipes for both classes
        assert abs(clean[m] - bad[m]) <= 0.35 * max(clean[m], bad[m]), (m, clean, bad)
    bd = [s for s in specs if s["backdoored"]]
    assert {s["family"] for s in bd} == set(FAMILIES) | {"small_norm"}
    assert {s["attacker"] for s in bd} == set(ATTACKERS)
    assert {s["mode"] for s in bd} == {"all_to_one", "all_to_all"}
    assert {s["train"]["optimizer"] for s in specs} == {"sgd", "adam", "adamw"}
    assert {s["arch"] for s in specs} == {"mlp", "cnn"}
    assert all(0.005 <= s["rate"] <= 0.10 for s in bd if s["mode"] == "all_to_one")
    # all-to-all splits the poison over K label pairs: 3 × the all-to-one draw, capped at 30 %
    assert all(0.09 <= s["rate"] <= 0.30 for s in bd if s["mode"] == "all_to_all")
    assert min(s["rate"] for s in bd) < 0.01
    assert all(s["method"] == "outlier_exposure" for s in bd if s["attacker"] == "noise_aware")
    assert all(s["method"] != "outlier_exposure" for s in bd if s["attacker"] != "noise_aware")
    assert any(s["trigger_kwargs"].get("pattern") == "black" for s in bd if s["trigger"] == "badnets")
    for s in specs:
        TrainConfig(data="digits", **s["train"])  # every recipe is a valid training config


def test_the_32px_design_is_deterministic_and_trains_the_registered_32px_models():
    from nnsafety.backdoor.recipes import recipe_spec32
    from nnsafety.data import load_dataset

    specs = [recipe_spec32(i) for i in range(48)]
    assert specs[5] == recipe_spec32(5) and [s["backdoored"] for s in specs] == [bool(i % 2) for i in range(48)]
    assert {s["arch"] for s in specs} == {"cnn", "preact_resnet18"}
    assert {s["family"] for s in specs if s["backdoored"]} == {"patch_bright", "blended", "sig"}
    assert all(s["method"] == "outlier_exposure" for s in specs if s["attacker"] == "noise_aware")
    data = load_dataset("digits32")
    assert tuple(data.images.shape[1:]) == (3, 32, 32) and 0 <= float(data.images.min()) < float(data.images.max()) <= 1
    for s in specs:
        TrainConfig(data="digits32", **s["train"])


def test_build_zoo_with_the_recipe_design_records_the_splits(tmp_path):
    with pytest.raises(ValueError, match="expected design one of"):
        build_zoo(tmp_path, 2, design="random")
    spec = recipe_spec(1)
    build_zoo(tmp_path, 2, shard=(1, 2), design="recipes", progress=False)
    (rec,) = read_manifest(tmp_path)
    assert rec["id"] == "m0001" and rec["recipe"] == spec["recipe"] and rec["attacker"] == spec["attacker"]
    assert rec["family"] == spec["family"] and rec["mode"] == spec["mode"] and rec["asr"] is not None
    with pytest.raises(ValueError, match="was built with"):  # its ids name other models in the classic design
        build_zoo(tmp_path, 2, shard=(1, 2), design="classic", progress=False)
