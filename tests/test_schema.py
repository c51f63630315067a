"""The JSON Schema of the analysis result (``heartsound/schemas/analysis.schema.json``)
holds for real ``analyze()`` outputs: recordings of three corpora, a recording with no
heart sounds (PASCAL artifact: every task not assessable), a run without classifiers,
a springer2016 run, and the example; and it rejects results that break the contract."""

from __future__ import annotations

import copy
import json
import os
from importlib import resources

import pytest

import heartsound
from heartsound.serialize import json_text

if os.environ.get("CI", "").lower() == "true":
    import jsonschema
else:
    jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator():
    text = resources.files("heartsound").joinpath("schemas/analysis.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _as_written(analysis) -> dict:
    """The result as ``heartsound analyze`` writes it (through the JSON text)."""
    return json.loads(json_text(analysis.to_dict()))


def _errors(validator, doc) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.corpus
@pytest.mark.parametrize("corpus,rel,kwargs", [
    ("circor2022", "recordings/49574_AV.flac", {}),
    ("physionet2016", "training-a/a0008.flac", {"evidence": False}),
    ("pascal2011", "setB/normal__170_1307970562729_B.flac", {"method": "springer2016"}),
    ("circor2022", "recordings/50053_PV.flac", {"tasks": ()}),
])
def test_real_outputs_validate(validator, data_root, corpus, rel, kwargs):
    path = data_root / corpus / rel
    if not path.is_file():
        pytest.fail(f"recording missing: {path}")
    doc = _as_written(heartsound.analyze(path, **kwargs))
    assert _errors(validator, doc) == []
    assert set(doc["classification"]) == set(kwargs.get("tasks", heartsound.pipeline.DEFAULT_TASKS))


@pytest.mark.corpus
def test_recording_without_heart_sounds_validates(validator, pascal_root):
    doc = _as_written(heartsound.analyze(pascal_root / "setA" / "artifact__201012172012.flac",
                                         evidence=False))
    assert doc["quality"]["usable"] is False
    assert all(t["assessable"] is False and t["label"] is None
               for t in doc["classification"].values())
    assert _errors(validator, doc) == []


def test_example_validates_and_broken_results_do_not(validator):
    doc = _as_written(heartsound.analyze(heartsound.example_path(), evidence=False))
    assert _errors(validator, doc) == []
    broken = []
    d = copy.deepcopy(doc); del d["quality"]; broken.append(d)
    d = copy.deepcopy(doc); d["segmentation"]["events"][0]["sound"] = "S3"; broken.append(d)
    d = copy.deepcopy(doc); d["segmentation"]["states"][0][2] = 7; broken.append(d)
    d = copy.deepcopy(doc); d["classification"]["murmur"]["probabilities"]["Present"] = 1.5
    broken.append(d)
    d = copy.deepcopy(doc); d["classification"]["murmur"]["available"] = False; broken.append(d)
    d = copy.deepcopy(doc); d["sr"] = "4000"; broken.append(d)
    for d in broken:
        assert _errors(validator, d), d
