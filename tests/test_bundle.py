"""Model bundles: every shipped model has its sha256 checked, one loader, one cache."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from pathlib import Path

import pytest

from heartsound import bundle
from heartsound.errors import ModelError, ParameterError


@pytest.fixture
def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped model folder copied to ``tmp_path`` and used in its place."""
    for spec in bundle.REGISTRY.values():
        (tmp_path / spec.file).write_bytes(
            files(bundle.MODELS_PACKAGE).joinpath(spec.file).read_bytes())
    monkeypatch.setattr(bundle, "_models_dir", lambda: tmp_path)
    bundle._load.cache_clear()
    yield tmp_path
    bundle._load.cache_clear()


@pytest.mark.parametrize("name", sorted(bundle.REGISTRY))
def test_registry_sha256_matches_file_and_card(name: str) -> None:
    spec = bundle.REGISTRY[name]
    data = files(bundle.MODELS_PACKAGE).joinpath(spec.file).read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec.sha256
    card = files(bundle.MODELS_PACKAGE).joinpath(spec.card).read_text()
    assert spec.sha256 in re.findall(r"[0-9a-f]{64}", card)


@pytest.mark.parametrize("name", sorted(bundle.REGISTRY))
def test_flipped_byte_raises_model_error_naming_the_file(name: str, shipped_copy: Path
                                                         ) -> None:
    spec = bundle.REGISTRY[name]
    path = shipped_copy / spec.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=re.escape(spec.file) + ".*sha256"):
        bundle.load(name)


@pytest.mark.parametrize("name", sorted(bundle.REGISTRY))
def test_missing_shipped_file_raises_model_error(name: str, shipped_copy: Path) -> None:
    (shipped_copy / bundle.REGISTRY[name].file).unlink()
    with pytest.raises(ModelError, match=re.escape(bundle.REGISTRY[name].file)):
        bundle.load(name)


def test_corrupt_springer_model_reaches_the_segmenter(shipped_copy: Path) -> None:
    from heartsound.segmentation import segment

    path = shipped_copy / "springer2016.json"
    path.write_text(path.read_text().replace('"coef"', '"coeff"', 1))
    with pytest.raises(ModelError, match="springer2016.json"):
        segment([0.1, -0.1] * 2000, 2000, method="springer2016")


@pytest.mark.parametrize("name, sr, frame_rate", [
    ("segmenter_neural", None, 50.0), ("springer2016", None, 50.0),
    ("abnormal", 2000, None), ("murmur", 2000, None), ("severity", 2000, None)])
def test_one_layout_for_every_model(name: str, sr: int | None, frame_rate: float | None
                                    ) -> None:
    b = bundle.load(name)
    assert b.labels == bundle.REGISTRY[name].labels
    assert (b.sr, b.frame_rate) == (sr, frame_rate)
    assert b.sha256 == bundle.REGISTRY[name].sha256
    assert b.card == f"heartsound/models/{bundle.REGISTRY[name].card}"
    assert (b.session is None) == (name == "springer2016")
    assert bundle.load(name) is b  # one cache
    assert bundle.load(name, threads=1) is b


def test_other_file_by_path_is_loaded_and_reloaded_when_rewritten(tmp_path: Path) -> None:
    src = files(bundle.MODELS_PACKAGE).joinpath("springer2016.json").read_text()
    p = tmp_path / "m.json"
    p.write_text(src)
    a = bundle.load("springer2016", path=p)
    assert a.path == str(p) and a.card is None
    p.write_text(src + "\n\n")  # another file at the same path: not served from the cache
    b = bundle.load("springer2016", path=p)
    assert b.sha256 != a.sha256


def test_bad_names_and_files(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="segmenter_neural"):
        bundle.load("nope")
    with pytest.raises(ModelError, match="missing.onnx"):
        bundle.load("abnormal", path=tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="junk.onnx"):
        bundle.load("abnormal", path=junk)
    with pytest.raises(ModelError, match="expected .abnormal."):  # a segmenter is no classifier
        bundle.load("abnormal", path=str(files(bundle.MODELS_PACKAGE) /
                                          "segmenter_neural.onnx"))
