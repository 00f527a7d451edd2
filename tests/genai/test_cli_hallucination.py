"""``nnsafety hallucination RUN --probe factworld`` end to end on a tiny trained run."""
import json

import pytest

from nnsafety.cli import main
from nnsafety.train import train

from ._tiny import MODEL, WORLD, tiny_sets

WORLD_ARGS = ["--entities", str(WORLD["n_entities"]), "--known", str(WORLD["n_known"]),
              "--world-seed", str(WORLD["seed"])]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "run"
    tr, te = tiny_sets()
    train(out=out, train_set=tr, test_set=te, model="char_gpt", method="lm", epochs=2, batch_size=16,
          optimizer="adamw", lr=3e-3, weight_decay=0.0, model_kwargs=MODEL, device="cpu", progress=False)
    return out


def test_probe_writes_table_and_json(lm_run, tmp_path, capsys):
    out = tmp_path / "h.json"
    assert main(["hallucination", str(lm_run), "--probe", "factworld", *WORLD_ARGS, "--n", "3",
                 "--max-new-tokens", "6", "--noise", "0,0.5", "--machine-text", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| semantic_entropy |" in table and "18 questions, 3 samples each" in table
    assert "| 0.50 |" in table and "| curvature |" in table
    res = json.loads(out.read_text())
    assert res["noise_response"]["flip_rate"][0] == 0.0 and res["noise_response"]["n_prompts"] == 9
    assert res["machine_text"]["n_human"] == res["machine_text"]["n_machine"] == 3
    assert len(res["rows"]) == 18 and res["world"] == {"n_entities": 6, "n_known": 3, "seed": 5}
    assert set(res["aurocs"]) == {"length_normalized_entropy", "p_answer", "predictive_entropy", "self_consistency",
                                  "semantic_entropy", "semantic_entropy_weighted"}
    # every unknown-entity answer that is not an abstention is a hallucination
    assert all(r["verdict"] == "hallucinated" for r in res["rows"] if not r["known"])
    # refuses to overwrite without --overwrite, leaving the file as it was
    before = out.read_text()
    assert main(["hallucination", str(lm_run), *WORLD_ARGS, "--n", "2", "--out", str(out)]) == 2
    assert out.read_text() == before and "already exists" in capsys.readouterr().err


def test_bad_input_is_one_line(lm_run, tmp_path, capsys):
    assert main(["hallucination", str(lm_run), "--n", "0"]) == 2
    assert main(["hallucination", str(tmp_path)]) == 2
    assert main(["hallucination", str(lm_run), "--noise", "0.1,0.2"]) == 2
    assert main(["hallucination"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 4 and "expected --n >= 1" in errs[0] and "config.json" in errs[1]
    assert "expected --noise as typo levels in [0, 1] starting at 0" in errs[2] and "RUN or --data" in errs[3]
