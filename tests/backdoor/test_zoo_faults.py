"""Issue 15, item 14: a zoo refuses to resume with another design, survives a torn manifest line,
and reads a hostile manifest one bad record (one warning line) at a time, paths confined to the zoo."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest

from nnsafety.backdoor.zoo import DESIGN, MANIFEST, ManifestWarning, build_zoo, read_manifest
from nnsafety.cli import main

EPOCHS = {"mlp": 1, "cnn": 1}


@pytest.fixture(scope="module")
def one_model_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "zoo"
    build_zoo(out, 1, methods=("erm",), epochs=EPOCHS, progress=False)
    return out


def _copy(zoo, tmp_path):
    dst = tmp_path / "zoo"
    shutil.copytree(zoo, dst)
    return dst


def test_resume_with_another_design_is_refused(one_model_zoo, tmp_path, capsys):
    """Before: rerunning with another --seed or --methods reported "6 models" and trained nothing."""
    zoo = _copy(one_model_zoo, tmp_path)
    assert json.loads((zoo / DESIGN).read_text())["seed"] == 0
    before = (zoo / MANIFEST).read_text()
    with pytest.raises(ValueError, match=r"was built with seed 0; got seed 1: use another --out"):
        build_zoo(zoo, 1, seed=1, methods=("erm",), epochs=EPOCHS, progress=False)
    with pytest.raises(ValueError, match=r"was built with methods \['erm'\]; got methods \['erm', 'noise'\]"):
        build_zoo(zoo, 1, methods=("erm", "noise"), epochs=EPOCHS, progress=False)
    assert main(["zoo", "--out", str(zoo), "--n", "2", "--seed", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "was built with" in err
    # a zoo made before zoo.json existed is checked record by record against the design
    (zoo / DESIGN).unlink()
    with pytest.raises(ValueError, match="model m0000 was not built with seed 1"):
        build_zoo(zoo, 1, seed=1, methods=("erm",), epochs=EPOCHS, progress=False)
    assert (zoo / MANIFEST).read_text() == before
    again = build_zoo(zoo, 1, methods=("erm",), epochs=EPOCHS, progress=False)  # same design: resumes
    assert [r["id"] for r in again] == ["m0000"] and (zoo / DESIGN).is_file()


def test_torn_last_line_does_not_swallow_the_next_record(one_model_zoo, tmp_path):
    """A shard killed while appending leaves a line without its newline; before, the next record was
    glued to it and lost with it (and retrained on every resume)."""
    zoo = _copy(one_model_zoo, tmp_path)
    with open(zoo / MANIFEST, "a") as f:
        f.write('{"arch": "mlp", "backdoored": true, "id": "m00')  # killed mid-write of m0001's record
    with pytest.warns(ManifestWarning, match="manifest.jsonl line 2: not a JSON line"):
        assert [r["id"] for r in read_manifest(zoo)] == ["m0000"]
    build_zoo(zoo, 2, methods=("erm",), epochs=EPOCHS, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the torn line is gone: no warning left
        assert [r["id"] for r in read_manifest(zoo)] == ["m0000", "m0001"]
    assert all(json.loads(line) for line in (zoo / MANIFEST).read_text().splitlines())


def test_hostile_manifest_records_are_one_line_each_and_confined(one_model_zoo, tmp_path, capsys):
    """Before: a line `42`, `[1,2,3]`, no id, `path: null`, an absolute path or one climbing out with
    `../` gave tracebacks or read models from outside the zoo."""
    zoo = _copy(one_model_zoo, tmp_path)
    outside = tmp_path / "outside"
    shutil.copytree(zoo / "m0000", outside)
    (zoo / "link").symlink_to(outside, target_is_directory=True)
    good = json.loads((zoo / MANIFEST).read_text().splitlines()[0])
    hostile = ["42", "[1, 2, 3]", json.dumps({**good, "id": None}), json.dumps({**good, "id": "a", "path": None}),
               json.dumps({**good, "id": "b", "path": str(outside)}),
               json.dumps({**good, "id": "c", "path": "../outside"}),
               json.dumps({**good, "id": "d", "path": "link"}),
               json.dumps({**good, "id": "e", "backdoored": "yes"})]
    (zoo / MANIFEST).write_text("\n".join(hostile) + "\n")
    assert main(["detect", str(zoo), "--method", "weights"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(hostile) + 1 and "Traceback" not in "\n".join(err)
    for i, needle in enumerate(["expected a JSON object, got 42", "expected a JSON object, got [1, 2, 3]",
                                "expected an 'id'", "record a: expected 'path' a folder name inside the zoo",
                                "record b: expected 'path'", "record c: expected 'path'",
                                "record d: 'path' 'link' leads outside the zoo",
                                "record e: expected 'backdoored' a bool, got 'yes'"]):
        assert err[i].startswith(f"nnsafety: warning: manifest.jsonl line {i + 1}: ") and needle in err[i], err[i]
    assert "expected a zoo with manifest records" in err[-1]
    # the good record still counts next to the hostile ones
    (zoo / MANIFEST).write_text("\n".join(hostile + [json.dumps(good)]) + "\n")
    with pytest.warns(ManifestWarning):
        assert [r["id"] for r in read_manifest(zoo)] == ["m0000"]
