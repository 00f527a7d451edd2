"""Requirement 5: a run killed with SIGKILL mid-epoch and resumed equals an uninterrupted run,
bit for bit. Both runs are real subprocesses of the CLI with the same environment; the base
augmentation (random crop + flip) is on, so its draws must resume exactly too."""
from ._sigkill import kill_resume_and_compare, train as _train

ARGS = ["--model", "cnn", "--set", "model_kwargs.width=16", "--set", "model_kwargs.dropout=0.2",
        "--epochs", "6", "--batch-size", "64", "--checkpoint-every", "3", "--seed", "11", "--quiet",
        "--set", 'augment=["random_crop", "hflip"]', "--set", 'augment_kwargs={"random_crop": {"padding": 2}}']


def test_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path, python, cli_env):
    kill_resume_and_compare(python, cli_env, tmp_path, ARGS, epochs=6)


def test_resume_refuses_new_training_options(tmp_path, python, cli_env):
    out = tmp_path / "r"
    p = _train(python, cli_env, out, "--model", "mlp", "--epochs", "1", "--quiet")
    assert p.wait() == 0
    p = _train(python, cli_env, out, "--resume", "--lr", "0.3")
    _, err = p.communicate()
    assert p.returncode == 2 and "--lr" in err and len(err.strip().splitlines()) == 1
