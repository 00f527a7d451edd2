"""The zoo: deterministic specs, ground-truth manifest, resumable, sharded; evaluation and compare."""
import json
import math

import numpy as np
import pytest

from nnsafety.backdoor.evaluate_zoo import compare, evaluate_detectors, roc_auc, tpr_at_fpr
from nnsafety.backdoor.zoo import build_zoo, read_manifest, zoo_labels, zoo_spec


def test_specs_are_balanced_and_independent_of_zoo_size():
    specs = [zoo_spec(i, seed=3, methods=("erm", "noise")) for i in range(16)]
    assert specs[5] == zoo_spec(5, seed=3, methods=("erm", "noise"))
    assert [s["backdoored"] for s in specs] == [bool(i % 2) for i in range(16)]
    for flag in (False, True):
        archs = [s["arch"] for s in specs if s["backdoored"] == flag]
        assert archs.count("mlp") == archs.count("cnn")
    bd = [s for s in specs if s["backdoored"]]
    assert {s["trigger"] for s in bd} == {"badnets", "blended", "sig", "wanet"}
    assert all(0.01 <= s["rate"] <= 0.10 for s in bd)
    assert {s["method"] for s in specs} == {"erm", "noise"}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    build_zoo(out, 2, methods=("erm",), epochs={"mlp": 20, "cnn": 1}, progress=False)
    return out


def test_manifest_has_the_ground_truth_and_resume_skips(tiny_zoo):
    recs = read_manifest(tiny_zoo)
    assert [r["id"] for r in recs] == ["m0000", "m0001"]
    clean, bd = recs
    assert not clean["backdoored"] and clean["asr"] is None and not clean["implanted"]
    assert bd["backdoored"] and bd["trigger"] == zoo_spec(1, methods=("erm",))["trigger"]
    assert bd["implanted"] == (bd["asr"] >= 0.9) and bd["n_poisoned"] == round(bd["rate"] * 1347)
    assert (tiny_zoo / "m0001" / "model.safetensors").is_file()
    cfg = json.loads((tiny_zoo / "m0001" / "config.json").read_text())
    assert cfg["poison"]["target"] == bd["target"]
    before = (tiny_zoo / "manifest.jsonl").read_text()
    again = build_zoo(tiny_zoo, 2, methods=("erm",), epochs={"mlp": 20, "cnn": 1}, progress=False)
    assert (tiny_zoo / "manifest.jsonl").read_text() == before
    assert [r["train_seconds"] for r in again] == [r["train_seconds"] for r in recs]


def test_shards_write_their_own_manifest_and_merge(tmp_path):
    build_zoo(tmp_path, 4, shard=(1, 2), methods=("erm",), epochs={"mlp": 1, "cnn": 1}, progress=False)
    assert (tmp_path / "manifest-1.jsonl").is_file()
    assert [r["id"] for r in read_manifest(tmp_path)] == ["m0001", "m0003"]
    merged = [json.loads(l)["id"] for l in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert merged == ["m0001", "m0003"]
    with pytest.raises(ValueError, match="shard"):
        build_zoo(tmp_path, 4, shard=(2, 2))


def test_zoo_labels_drop_failed_implants():
    recs = [{"backdoored": False, "implanted": False}, {"backdoored": True, "implanted": True},
            {"backdoored": True, "implanted": False}]
    assert [r["label"] for r in zoo_labels(recs)] == [0, 1]


def test_auc_and_tpr_against_hand_counts():
    y = [0, 0, 0, 0, 1, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.9, 0.3, 0.85]
    pairs = [(p, n) for p in [0.9, 0.3, 0.85] for n in [0.1, 0.4, 0.35, 0.8]]
    assert roc_auc(y, s) == pytest.approx(sum(p > n for p, n in pairs) / len(pairs))
    assert tpr_at_fpr(y, s, 0.05) == pytest.approx(2 / 3)  # above the largest clean score 0.8
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_evaluate_detectors_and_compare(tiny_zoo, tmp_path):
    recs = zoo_labels(read_manifest(tiny_zoo))
    if len(recs) < 2:
        pytest.skip("the tiny zoo's backdoor did not implant")
    table = evaluate_detectors(tiny_zoo, ["weights", "spectral_signature"], progress=False, cross_family=False)
    assert [r["detector"] for r in table.rows] == ["weights", "spectral_signature"]
    assert all(r["n_models"] == 2 and r["n_backdoored"] == 1 for r in table.rows)
    json.dumps(table.to_dict())
    assert "| weights |" in table.to_markdown()
    res = compare(tiny_zoo / "m0000", tiny_zoo / "m0001", out=tmp_path / "cmp.png", methods=("weights",))
    assert (tmp_path / "cmp.png").stat().st_size > 1000
    assert set(res.verdicts) == {str(tiny_zoo / "m0000"), str(tiny_zoo / "m0001")}
    assert res.more_suspicious in res.verdicts


def test_cli_fits_a_json_meta_on_a_zoo_and_scores_a_run_with_it(tiny_zoo, tmp_path, capsys):
    from nnsafety.cli import main

    if sorted(r["label"] for r in zoo_labels(read_manifest(tiny_zoo))) != [0, 1]:
        pytest.skip("the tiny zoo's backdoor did not implant")
    meta = tmp_path / "meta.json"
    assert main(["detect", str(tiny_zoo), "--method", "noise_response", "--fit-meta", str(meta), "--json"]) == 0
    assert json.loads(meta.read_text())["kind"] == "ProfileMeta"
    scores = {}
    for run in ("m0000", "m0001"):
        assert main(["detect", str(tiny_zoo / run), "--method", "noise_response", "--meta", str(meta), "--json"]) == 0
        res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])[0]
        assert res["threshold"] == 0.5 and res["details"]["meta_score"] == res["score"]
        scores[run] = res["score"]
    assert scores["m0001"] > 0.5 > scores["m0000"]  # the reference's own models, on either side
    # --compare scores noise_response with the same reference, and prints one readable line per detector
    pair = [str(tiny_zoo / "m0000"), str(tiny_zoo / "m0001")]
    assert main(["detect", *pair, "--compare", "--method", "noise_response", "--meta", str(meta), "--json"]) == 0
    verdicts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["verdicts"]
    assert [[v["detector"] for v in verdicts[p]] for p in pair] == [["noise_response"]] * 2  # --method honoured
    assert [verdicts[p][0]["score"] for p in pair] == pytest.approx([scores["m0000"], scores["m0001"]])
    assert verdicts[pair[1]][0]["summary"].startswith("noise_response: BACKDOORED (score")
    assert main(["detect", str(tiny_zoo), "--method", "noise_response", "--fit-meta", str(meta)]) == 2
    assert main(["detect", str(tiny_zoo / "m0000"), "--method", "weights", "--meta", str(meta)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "exists" in err[0] and "--meta works with --method noise_response" in err[1]
