"""The packaged digits reference meta-classifier on two new models trained by the zoo's recipe.

Seeds above 9999 are outside the zoo the reference was fitted on (zoo seeds are < 10,000), so this
is a held-out check of the shipped JSON, not a replay of its training data.
"""
import pytest

from nnsafety.backdoor.detectors import DetectionContext, create_detector, load_meta, reference_metas
from nnsafety.train import TrainConfig, train

RECIPE = dict(data="digits", model="mlp", model_kwargs={"width": 128, "depth": 1}, epochs=20, eval_every=20,
              device="cpu", seed=10_007)


@pytest.fixture(scope="module")
def recipe_pair():
    clean = train(TrainConfig(**RECIPE), progress=False).model
    bad = train(TrainConfig(**RECIPE, poison="badnets", poison_kwargs={"rate": 0.08, "target": 3}),
                progress=False).model
    return clean.eval(), bad.eval()


def test_packaged_reference_separates_held_out_recipe_models(recipe_pair):
    assert "digits" in reference_metas()
    det = create_detector("noise_response", meta=load_meta("digits"))
    ctx = DetectionContext(in_shape=(1, 8, 8), num_classes=10)
    clean, bad = (det.detect(m, ctx) for m in recipe_pair)
    assert not clean.backdoored and clean.score < 0.5
    assert bad.backdoored and bad.score > 0.5 and bad.target_class == 3


def test_load_meta_rejects_what_is_neither_a_name_nor_a_meta_file(tmp_path):
    with pytest.raises(ValueError, match="expected a meta-classifier JSON file"):
        load_meta("cifar10")  # not packaged, and no such file
    bad = tmp_path / "m.json"
    bad.write_text('{"kind": "forest"}')
    with pytest.raises(ValueError, match="expected a ProfileMeta JSON"):
        load_meta(bad)
