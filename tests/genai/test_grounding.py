"""Knowledge-grounded detector: the support formula on fixed strings, the fit/held-out protocol on
synthetic items, the HaluEval loader's errors, and the real HaluEval QA numbers when fetched."""
import json
from pathlib import Path

import pytest

from nnsafety.cli import main
from nnsafety.data.halueval import HaluEvalQA, halueval_path, load_halueval_qa
from nnsafety.genai.grounding import evaluate_grounding, knowledge_support

REPO_DATA = Path(__file__).resolve().parents[2] / "data" / "genai"


def test_support_is_share_of_content_words_in_passage():
    k = "Arthur's Magazine (1844-1846) was an American literary periodical published in Philadelphia."
    assert knowledge_support(k, "Arthur's Magazine") == 1.0
    # content words: first, women, started, first -> none in the passage
    assert knowledge_support(k, "First for Women was started first.") == 0.0
    assert knowledge_support(k, "Philadelphia, Boston") == 0.5
    assert knowledge_support(k, "the") == 1.0  # no content word: nothing unsupported


def _items(n):
    return [HaluEvalQA(f"Person{i} lives in Town{i}.", f"Where does Person{i} live?", f"Town{i}",
                       f"Person{i} lives in City{i}") for i in range(n)]


def test_fit_on_first_half_report_on_second():
    r = evaluate_grounding(_items(20), n_boot=50)
    assert r.n_fit == 10 and r.accuracy == 1.0 and r.fit_accuracy == 1.0 and r.auroc["auroc"] == 1.0
    assert r.threshold == pytest.approx(1 / 3)  # "city{i}" is the one unsupported word of three
    with pytest.raises(ValueError, match="expected items on both sides of the fit split"):
        evaluate_grounding(_items(1))


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data-genai"):
        load_halueval_qa(tmp_path)
    path = halueval_path("qa", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"knowledge": "k", "question": "q"}) + "\n")
    with pytest.raises(ValueError, match="line 1 is not a HaluEval QA record"):
        load_halueval_qa(tmp_path)
    with pytest.raises(ValueError, match="unknown HaluEval task 'mt'"):
        halueval_path("mt")


@pytest.mark.skipif(not halueval_path("qa", REPO_DATA).is_file(),
                    reason="HaluEval QA not fetched: run `make data-genai`")
def test_real_halueval_qa(tmp_path, capsys):
    items = load_halueval_qa(REPO_DATA)
    assert len(items) == 10000 and items[0].right_answer == "Arthur's Magazine"
    out = tmp_path / "h.json"
    assert main(["hallucination", "--data", "halueval_qa", "--data-root", str(REPO_DATA), "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    # measured: 0.925 held-out accuracy (ChatGPT in the HaluEval paper: 0.626), AUROC 0.897
    assert r["accuracy"] == pytest.approx(0.925, abs=0.002) and r["auroc"]["auroc"] == pytest.approx(0.897, abs=0.002)
    assert "| knowledge support | 0.925 |" in capsys.readouterr().out
