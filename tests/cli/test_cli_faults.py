"""Issue 15, items 1, 12 and 13: user files are never deleted, a diverged or killed run says how to
go on, a bad --figure fails first. The kill is a real process (like the SIGKILL resume test); the
commands after it run in-process, one line on stderr and exit 2 each."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from nnsafety.cli import main

FAST = ["--model", "mlp", "--set", "model_kwargs.width=16", "--quiet"]


def _one_line(argv, needle, capsys):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and needle in err, err
    return err


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else None) for p in folder.rglob("*"))


def test_overwrite_never_deletes_a_users_folder(tmp_path, capsys):
    """Before: `train --out precious --overwrite` ran shutil.rmtree on any folder (exit 0, thesis gone)."""
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.txt").write_text("draft\n")
    before = _tree(precious)
    _one_line(["train", "--epochs", "1", "--out", str(precious), "--overwrite", *FAST],
              "is a non-empty folder that is not a run directory (no config.json)", capsys)
    assert _tree(precious) == before
    # an empty folder may be replaced (and, below, a run directory), also one holding only the temp
    # file of an atomic write that a kill cut short
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".config.json.abc123.tmp").write_text("{")
    assert main(["train", "--epochs", "1", "--out", str(empty), "--overwrite", *FAST]) == 0
    assert (empty / "model.safetensors").is_file()


def test_diverged_training_is_one_line_and_the_folder_can_be_replaced(tmp_path, capsys):
    """Before: `--lr 1e6` gave a FloatingPointError traceback and a folder that blocked the rerun."""
    out = tmp_path / "run"
    err = _one_line(["train", "--out", str(out), "--epochs", "2", "--lr", "1e6", "--momentum", "0", *FAST],
                    "training diverged: the training loss became nan in epoch 1 (lr 1e+06", capsys)
    assert "rerun with --overwrite and a lower --lr" in err
    _one_line(["train", "--out", str(out), "--epochs", "1", *FAST], "pass --overwrite to start it again", capsys)
    _one_line(["train", "--out", str(out), "--resume", "--quiet"],
              "stopped before its first checkpoint, so there is nothing to resume; pass --overwrite", capsys)
    assert main(["train", "--out", str(out), "--epochs", "1", "--overwrite", *FAST]) == 0


def test_killed_before_the_first_checkpoint_says_what_to_do(tmp_path, python, cli_env, capsys):
    """Before: `--resume` said "found none" and a rerun "already exists", with no way forward."""
    out = tmp_path / "run"
    # a wide cnn: its first epoch takes seconds, so the kill lands before the first checkpoint
    proc = subprocess.Popen([python, "-m", "nnsafety.cli", "train", "--out", str(out), "--model", "cnn",
                             "--set", "model_kwargs.width=64", "--epochs", "3", "--quiet"],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (out / "config.json").exists():
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    if (out / "checkpoint").exists():
        pytest.skip("the machine was fast enough to checkpoint before the kill")  # pragma: no cover
    _one_line(["train", "--out", str(out), "--resume", "--quiet"],
              "stopped before its first checkpoint, so there is nothing to resume; pass --overwrite", capsys)
    _one_line(["train", "--out", str(out), *FAST],
              "already exists; it stopped before its first checkpoint; pass --overwrite to start it again", capsys)
    assert main(["train", "--out", str(out), "--epochs", "1", "--overwrite", *FAST]) == 0


def test_figure_into_an_unwritable_folder_fails_before_measuring(digits_run, tmp_path, capsys):
    """Before: `eval --figure` into a read-only folder printed the numbers, then a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    _one_line(["eval", str(digits_run), "--figure", str(blocker / "fig.png")], "expected a folder at", capsys)
    assert capsys.readouterr().out == ""  # failed before any measurement
    if os.geteuid() != 0:  # root writes into read-only folders, so only a user sees this case
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        _one_line(["eval", str(digits_run), "--figure", str(ro / "fig.png")], "cannot write --figure into", capsys)
        assert list(ro.iterdir()) == []
