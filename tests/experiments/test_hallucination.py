"""The multi-seed hallucination experiment writes its table and JSON (tiny world, one epoch)."""
import json

from nnsafety.experiments import run_hallucination


def test_tiny_hallucination_experiment(tmp_path):
    md = run_hallucination(tmp_path, seeds=2, epochs=1, n_entities=4, n_known=2, n=2)
    payload = json.loads((tmp_path / "hallucination.json").read_text())
    assert [p["seed"] for p in payload["per_seed"]] == [0, 1]
    assert all(p["n_questions"] == 12 for p in payload["per_seed"])
    assert (tmp_path / "runs" / "seed1" / "model.safetensors").is_file()
    assert md.startswith("| score | seed 0 AUROC [95% CI] | seed 1 AUROC [95% CI] | mean ± std |")
    assert "semantic_entropy" in md and "Farquhar et al. 2024: 0.79 vs 0.69" in md


def test_recipe_file_is_the_experiment_recipe():
    from pathlib import Path

    from nnsafety.experiments.hallucination import RECIPE
    from nnsafety.train import load_toml

    toml = load_toml(Path(__file__).resolve().parents[2] / "configs" / "genai" / "factworld_char_gpt_lm.toml")
    assert toml.pop("data") == "factworld" and toml.pop("epochs") == 150
    assert toml.pop("warmup_epochs") == 1 and toml.pop("schedule") == "cosine"
    assert toml == {k: v for k, v in RECIPE.items() if k != "device"}
