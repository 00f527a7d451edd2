"""``nnsafety audit`` / ``compare`` on a run directory written by hand (no trainer needed)."""
from __future__ import annotations

import json

import pytest

from nnsafety import runs
from nnsafety.cli import main
from nnsafety.report import validate


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fit_digits, write_digits_run):
    model = fit_digits("mlp", steps=150, seed=0, width=32)
    return write_digits_run(tmp_path_factory.mktemp("run") / "mlp<1>", model, seed=7)


def test_audit_command(run_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["audit", str(run_dir), "--data", "digits", "--out", str(out), "--only", "accuracy,spectral",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in text and "clean accuracy" in text
    card = json.loads((out / "safety_card.json").read_text())
    assert validate(card) == []
    assert card["model"]["weights_sha256"] == runs.sha256_file(run_dir / runs.WEIGHTS)
    assert card["model"]["architecture"] == "mlp" and card["seeds"]["training"] == 7
    assert "mlp&lt;1&gt;" in (out / "report.html").read_text()


def test_compare_command_reuses_reports(run_dir, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert main(["audit", str(run_dir), "--out", str(d), "--only", "accuracy", "--quiet"]) == 0
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    assert "comparison:" in capsys.readouterr().out
    assert (tmp_path / "cmp" / "comparison.html").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--skip", "hesian"], "unknown section(s) hesian in --skip"),
    (["--budget", "huge"], "invalid choice"),
    (["--noise-meta", "nope"], "expected a meta-classifier JSON file at nope"),
])
def test_bad_arguments_write_nothing(run_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    assert main(["audit", str(run_dir), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_compare_needs_two(run_dir, tmp_path, capsys):
    assert main(["compare", str(run_dir), "--out", str(tmp_path / "c")]) == 2
    assert "at least 2" in capsys.readouterr().err
