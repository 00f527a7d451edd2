"""The text zoo design: each model's recipe from its id alone, and `build_zoo` trains and scores text models."""
from __future__ import annotations

import json

from nnsafety.backdoor.recipes import recipe_spec
from nnsafety.backdoor.recipes_text import FAMILIES, text_recipe_spec
from nnsafety.backdoor.zoo import build_zoo, read_manifest
from nnsafety.train import TrainConfig


def test_text_specs_are_deterministic_balanced_and_valid_train_configs():
    specs = [text_recipe_spec(i, seed=3) for i in range(40)]
    assert specs == [text_recipe_spec(i, seed=3) for i in range(40)]
    assert text_recipe_spec(5, seed=4) != specs[5]
    assert set(specs[0]) == set(recipe_spec(0))  # the manifest fields of the image recipe zoo
    assert [s["backdoored"] for s in specs] == [i % 2 == 1 for i in range(40)]
    bad = [s for s in specs if s["backdoored"]]
    assert {s["trigger"] for s in bad} == set(FAMILIES)
    assert all(0.01 <= s["rate"] <= 0.10 and s["target"] in (0, 1) and s["mode"] == "all_to_one" for s in bad)
    assert all(s["trigger"] is None for s in specs if not s["backdoored"])
    for s in specs:
        TrainConfig(data="fine_foods", **s["train"])  # every field type-checked


def test_build_zoo_trains_text_models_and_records_their_asr(tmp_path):
    data = tmp_path / "texts"
    data.mkdir()
    good, bad = ["good tasty fresh coffee", "great lovely tea"], ["bad stale coffee", "awful sour tea"]
    for split, reps in (("train", 15), ("test", 3)):
        rows = [{"text": f"we {r} bought this {t}", "label": lab} for r in range(reps)
                for ts, lab in ((good, "pos"), (bad, "neg")) for t in ts]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    recs = build_zoo(tmp_path / "zoo", 2, data="text_files", data_root=str(data), design="text_recipes",
                     progress=False)
    assert [r["backdoored"] for r in recs] == [False, True]
    assert recs[0]["asr"] is None and 0 <= recs[1]["asr"] <= 1 and recs[1]["trigger"] == text_recipe_spec(1)["trigger"]
    assert read_manifest(tmp_path / "zoo") == recs
    assert json.loads((tmp_path / "zoo" / "zoo.json").read_text())["design"] == "text_recipes"
