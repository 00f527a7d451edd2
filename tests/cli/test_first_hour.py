"""Issue 17 ("the first hour of a new user"), items 8, 9, 11 and 15's Ctrl-C: the command line says
what its numbers mean, refuses flags that do not apply, and says how to go on."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nnsafety.cli import main

REPO = Path(__file__).resolve().parents[2]
FAST = ["--model", "mlp", "--set", "model_kwargs.width=16", "--quiet"]


def test_ctrl_c_says_how_resume_continues_the_run(tmp_path, python, cli_env):
    out = tmp_path / "run"
    # epochs enough that the run cannot end before the signal: under load the poller below may not be
    # scheduled for seconds while training goes on (200 epochs once finished first on a loaded box)
    # SIGINT back to its default in the child: a suite started with `&` from a non-interactive shell
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler (the run would
    # train on, as one helper's background suite saw)
    proc = subprocess.Popen([python, "-m", "nnsafety.cli", "train", "--out", str(out), "--epochs", "100000",
                             "--checkpoint-every", "2", *FAST], env=cli_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    state = out / "checkpoint" / "state.json"
    while time.monotonic() < deadline and proc.poll() is None and not state.exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)  # two helpers saw 120 s pass under load 13 (1 s when quiet)
    assert proc.returncode == 130, err
    assert f"`nnsafety train --out {out} --resume` continues from the last checkpoint (after " in err, err
    assert "Traceback" not in err
    meta = json.loads(state.read_text())
    assert meta["global_step"] >= 2


def test_ctrl_c_before_any_checkpoint_says_nothing_to_resume(tmp_path, capsys, monkeypatch):
    from nnsafety.train import Trainer

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    assert main(["train", "--out", str(tmp_path / "r"), "--epochs", "1", *FAST]) == 130
    err = capsys.readouterr().err
    assert "interrupted before the first checkpoint" in err and "--overwrite" in err


def _zoo(folder: Path, models):
    folder.mkdir()
    lines = []
    for i, (backdoored, implanted, seed) in enumerate(models):
        (folder / f"m{i}").mkdir()
        lines.append(json.dumps({"id": f"m{i}", "path": f"m{i}", "backdoored": backdoored, "implanted": implanted,
                                 "arch": "mlp", "seed": seed}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_detect_on_a_too_small_zoo_says_what_it_needs(tmp_path, capsys):
    # before: "expected profiles and labels of both classes for M models, got 1 profiles and classes [0]"
    zoo = _zoo(tmp_path / "zoo", [(False, False, 4), (True, False, 7)])
    assert main(["detect", str(zoo), "--method", "all"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "too small to score detectors: 1 clean and 0 backdoored usable models" in err
    assert "clean 1/0, backdoored 0/0; 1 backdoored not counted, attack success < 90%" in err
    assert "nnsafety zoo --n 40" in err


def test_metric_flags_that_do_not_apply_are_refused(digits_run, capsys):
    assert main(["eval", str(digits_run), "--metric", "hessian", "--data-free"]) == 2
    err = capsys.readouterr().err
    assert "--data-free applies only to --metric noise_response, got --metric hessian" in err
    assert main(["eval", str(digits_run), "--metric", "spectral", "--family", "uniform"]) == 2
    assert "--family applies only" in capsys.readouterr().err


def test_noise_response_text_says_what_the_numbers_mean(digits_run, capsys):
    assert main(["eval", str(digits_run), "--metric", "noise_response", "--data-free", "--seed", "0"]) == 0
    text = capsys.readouterr().out
    assert "data-free: noise around a grey image; 1000 probes × 30 levels 0..1" in text
    assert "with confidence > 0.9; 0.5 or more is flagged" in text
    assert ("— not flagged" in text) != ("** FLAGGED **" in text)
    main(["eval", str(digits_run), "--metric", "noise_response", "--n", "100", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["collapse_threshold"] == 0.5 and d["flagged"] == (d["collapse_score"] >= 0.5)
    main(["eval", str(digits_run), "--metric", "noise_response", "--n", "100"])
    assert "100 test images of digits" in capsys.readouterr().out


def test_make_targets_say_how_to_call_nnsafety():
    """`make demo` then `nnsafety list` was "command not found": every user-facing target says how."""
    for target in ("install", "demo", "test"):
        dry = subprocess.run(["make", "-n", "-W", "pyproject.toml", target], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr
        assert "run .venv/bin/nnsafety --help, or first: source .venv/bin/activate" in dry.stdout, target


def test_autoattack_announces_a_bound_reports_each_component_and_ends_with_the_number(digits_run, capsys):
    """Before: 11 minutes with nothing on screen, no robust-accuracy line, no sanity checks shown."""
    assert main(["attack", str(digits_run), "--attack", "autoattack", "--eps", "0.1", "-n", "8"]) == 0
    out = capsys.readouterr()
    assert "AutoAttack standard on 8 digits test images: apgd-ce, apgd-t, fab-t, square; at most about" in out.err
    for k, name in enumerate(["apgd-ce", "apgd-t", "fab-t", "square"], 1):
        assert f"[{k}/4] {name} on the " in out.err and f"[{k}/4] {name}: robust accuracy " in out.err
    lines = out.out.splitlines()
    final = next(line for line in lines if line.startswith("robust accuracy: "))
    checks = next(line for line in lines if line.startswith("sanity checks: "))
    after_square = next(line for line in lines if line.startswith("after square: "))
    assert final.split()[2] == after_square.split()[2]  # the worst case over the components is the last one
    assert " of 6 passed" in checks  # probabilities, gradients, determinism, clean accuracy, black box, ε growth
    assert main(["attack", str(digits_run), "--attack", "autoattack", "--eps", "0.1", "-n", "8", "--json",
                 "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "at most about" not in quiet.err  # --quiet: no progress lines
    d = json.loads(quiet.out)
    assert f"{d['robust_accuracy']:.4f}" == final.split()[2]


def test_autoattack_pass_bounds_are_the_reference_budgets():
    from nnsafety.attacks.autoattack import estimate_passes

    p = estimate_passes("standard", 10)
    # fra31/auto-attack standard: 100 iterations each, 9 target classes, Square 5000 queries
    assert p["apgd-ce"] == {"grad": 100, "forward": 0} and p["apgd-t"] == {"grad": 900, "forward": 0}
    assert p["square"] == {"grad": 0, "forward": 5000} and list(p) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert estimate_passes("plus", 10)["apgd-ce"]["grad"] == 500  # 5 restarts


def test_experiment_log_has_no_bar_frames_and_its_files_are_readable(tmp_path, python, cli_env):
    """Before: `experiment toy2d > log 2>&1` wrote a 209 KB log of bar frames; figures were 0600."""
    import os
    import stat

    out = tmp_path / "results"
    log = tmp_path / "log.txt"
    with open(log, "w") as f:  # not a terminal
        done = subprocess.run(["sh", "-c", f"umask 022 && exec {python} -m nnsafety.cli experiment toy2d --out {out} "
                               "--seeds 1 --epochs 1 --methods erm"], env=cli_env, stdout=f,
                              stderr=subprocess.STDOUT, timeout=600)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "it/s" not in text and len(text) < 2000, text[:500]
    files = [p for p in out.iterdir() if p.suffix in (".png", ".md", ".json")]
    assert any(p.suffix == ".png" for p in files)
    for p in files:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o644, (p.name, oct(os.stat(p).st_mode))
