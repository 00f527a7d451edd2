"""Issue 15, items 3, 4 and 15: the report folder is written as one set, checked before the sections
run; compare checks every input before any audit; comparison links cannot become URL schemes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from nnsafety.cli import main
from nnsafety.report import audit
from nnsafety.report import output
from nnsafety.report.compare import compare, report_link


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def report_run(tmp_path_factory, fit_digits, write_digits_run):
    return write_digits_run(tmp_path_factory.mktemp("run") / "mlp", fit_digits("mlp", steps=100, seed=0, width=32))


@pytest.mark.parametrize("fault", [KeyboardInterrupt, lambda: OSError(28, "No space left on device")])
def test_a_fault_while_writing_leaves_the_old_report_whole(monkeypatch, mlp, test_set, tiny_budget, tmp_path, fault):
    """Before: Ctrl-C or a full disk right after the card was renamed left a new safety_card.json and
    new figures beside the old report.html. Now the old folder is untouched and no temp folder stays."""
    out = tmp_path / "rep"
    audit(mlp, test_set, budget=tiny_budget, only=["accuracy"], out=out, progress=False)
    before = _files(out)
    real = sys.modules["nnsafety.report.audit"].write_bytes_atomic

    def failing(path, data, shared=False):
        if path.name == "report.html":  # the card and figures of the new report are already written
            raise fault()
        real(path, data, shared)

    monkeypatch.setattr(sys.modules["nnsafety.report.audit"], "write_bytes_atomic", failing)
    with pytest.raises((KeyboardInterrupt, OSError)):
        audit(mlp, test_set, budget=tiny_budget, only=["accuracy", "spectral"], out=out, progress=False)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_old_figures_go_and_a_figures_symlink_is_not_followed(mlp, test_set, tiny_budget, tmp_path):
    """Before: figures of an older audit were never removed, and a `figures` symlink inside --out
    made the audit write outside it."""
    out, outside = tmp_path / "rep", tmp_path / "outside"
    outside.mkdir()
    audit(mlp, test_set, budget=tiny_budget, only=["accuracy", "spectral"], out=out, progress=False)
    assert any(p.name.startswith("spectral_") for p in (out / "figures").iterdir())
    (out / "figures").rename(tmp_path / "old_figures")
    (out / "figures").symlink_to(outside, target_is_directory=True)
    res = audit(mlp, test_set, budget=tiny_budget, only=["accuracy"], out=out, progress=False)
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert not (out / "figures").is_symlink()
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names and all(n.startswith("accuracy_") for n in names)  # no stale spectral figures
    assert json.loads((out / "safety_card.json").read_text()) == res.card
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_out_is_checked_before_any_section(monkeypatch, mlp, test_set, tiny_budget, tmp_path):
    from nnsafety.report.base import SECTIONS

    ran = []
    monkeypatch.setattr(SECTIONS.get("accuracy"), "run", lambda ctx: ran.append(1))
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not an nnsafety report"):
        audit(mlp, test_set, budget=tiny_budget, only=["accuracy"], out=user, progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError):  # the probe: --out under a file cannot be created
        audit(mlp, test_set, budget=tiny_budget, only=["accuracy"], out=blocker / "rep", progress=False)
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises(PermissionError):
            audit(mlp, test_set, budget=tiny_budget, only=["accuracy"], out=ro / "rep", progress=False)
    assert ran == [] and (user / "notes.txt").read_text() == "keep"


def test_sigint_during_an_audit_keeps_the_old_report(report_run, tmp_path, python, cli_env):
    """A real process interrupted (Ctrl-C) while its sections run: the earlier report stays whole."""
    out = tmp_path / "rep"
    assert main(["audit", str(report_run), "--out", str(out), "--only", "accuracy", "--quiet"]) == 0
    before = _files(out)
    proc = subprocess.Popen([python, "-m", "nnsafety.cli", "audit", str(report_run), "--out", str(out),
                             "--only", "accuracy,hessian,boundary", "--budget", "standard", "--quiet"],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # past the start-up: sections are running
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the audit finished before it could be interrupted")  # pragma: no cover
    assert proc.returncode != 0, err  # 130 with "interrupted" once main() runs; an earlier Ctrl-C is fine too
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_compare_checks_every_input_before_any_audit(report_run, tmp_path, capsys):
    """Before: `compare runs/erm10 runs/nosuch` audited the first run, wrote rep_x/erm10/, then exit 2."""
    out = tmp_path / "rep_x"
    assert main(["compare", str(report_run), str(tmp_path / "nosuch"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "expected a run directory or a report folder (with safety_card.json), found nothing" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    bad_card = tmp_path / "bad"
    bad_card.mkdir()
    (bad_card / "safety_card.json").write_text("[1, 2]")
    assert main(["compare", str(report_run), str(bad_card), "--out", str(out), "--quiet"]) == 2
    assert "is not a valid safety card" in capsys.readouterr().err and not out.exists()
    assert main(["compare", str(report_run), str(report_run), "--data", "toy2d", "--out", str(out)]) == 2
    assert "expected data of shape (1, 8, 8)" in capsys.readouterr().err and not out.exists()


def test_compare_links_are_dot_slash_and_percent_encoded(report_run, tmp_path):
    """Before: a folder named `javascript:alert(1)` became a `javascript:` link (blocked only by the CSP)."""
    assert report_link(tmp_path / "javascript:alert(1)" / "report.html", tmp_path) == \
        "./javascript%3Aalert%281%29/report.html"
    assert report_link(tmp_path / "a b" / "report.html", tmp_path / "cmp") == "./../a%20b/report.html"
    evil = tmp_path / "javascript:alert(1)"
    import shutil

    shutil.copytree(report_run, evil)
    out = tmp_path / "cmp"
    comp = compare([evil, report_run], out=out, only=["accuracy"], progress=False)
    assert comp.links == ["./javascript%3Aalert%281%29/report.html", "./mlp/report.html"]
    html = (out / "comparison.html").read_text()
    assert 'href="./javascript%3Aalert%281%29/report.html"' in html and 'href="javascript' not in html
    assert (out / "javascript:alert(1)" / "report.html").is_file()


@pytest.mark.parametrize("exchange", [True, False])
def test_write_folder_swaps_whole_folders(monkeypatch, tmp_path, exchange):
    """Both swaps (Linux's RENAME_EXCHANGE, and the two renames used elsewhere) leave exactly the
    new files at ``out`` and nothing beside it; a failing ``fill`` leaves the old folder as it was."""
    if not exchange:
        monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    out = tmp_path / "rep"
    output.write_folder(out, lambda d: (d / "report.html").write_text("one"))
    (out / "figures").mkdir()
    (out / "figures" / "old.png").write_bytes(b"x")
    output.write_folder(out, lambda d: (d / "report.html").write_text("two"))
    assert _files(out) == {"report.html": b"two"}

    def broken(d):
        (d / "report.html").write_text("three")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        output.write_folder(out, broken)
    assert _files(out) == {"report.html": b"two"} and [p.name for p in tmp_path.iterdir()] == ["rep"]
