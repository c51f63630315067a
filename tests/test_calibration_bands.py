"""Per-band input normalisation (``heartsound calibrate --band-norm``), the calibration
file format 2, and the embedding output used by the head-refit study."""

from __future__ import annotations

import json
import os
from importlib.resources import files

import numpy as np
import pytest

from heartsound import bundle
from heartsound.calibration import Calibration, load, save
from heartsound.calibration.applying import rescore
from heartsound.calibration.bands import (band_variance, reference, scale_input,
                                          site_scale)
from heartsound.calibration.files import model_frontend, normalised_scores_of
from heartsound.classification import classify
from heartsound.classification.frontend import features
from heartsound.cli import main as cli_main
from heartsound.errors import ParameterError
from heartsound.io import load as load_audio
from heartsound.pipeline import example_path

SHA = bundle.REGISTRY["abnormal"].sha256


def _cal(scale=None, **kw) -> Calibration:
    prov = {"model_sha256": SHA, "n_per_class": {"abnormal": 3, "normal": 4}}
    return Calibration("abnormal", kw.pop("method", "threshold"), kw.pop("threshold", 0.5),
                       kw.pop("params", {}), prov, input_scale=scale)


def test_band_variance_and_site_scale_known_values():
    t = np.arange(8.0)
    f = np.column_stack([np.where(t % 2 == 0, 1.0, -1.0), np.where(t % 2 == 0, 2.0, -2.0),
                         np.full(8, 7.0)])  # two Mel bands and a phase channel
    assert band_variance(f, 2) == pytest.approx([1.0, 4.0])
    # site variances 1 and 4, reference 4 and 4: factors 2 and 1
    assert site_scale(np.array([[1.0, 4.0], [1.0, 4.0]]), np.array([4.0, 4.0])) == \
        pytest.approx([2.0, 1.0])
    scaled = scale_input(f, np.array([2.0, 1.0]))
    assert scaled.dtype == np.float32
    assert band_variance(scaled, 2) == pytest.approx([4.0, 4.0])
    assert np.array_equal(scaled[:, 2], f[:, 2])  # the phase channel is not scaled


def test_site_scale_rejects_bad_input():
    with pytest.raises(ParameterError, match="do not match"):
        site_scale(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ParameterError, match="does not vary"):
        site_scale(np.array([[1.0, 0.0]]), np.ones(2))
    with pytest.raises(ParameterError, match="available for abnormal"):
        reference("murmur")


def test_shipped_reference_matches_the_model():
    ref = reference("abnormal")
    fe = model_frontend("abnormal")  # raises if the reference is stale
    assert len(ref["band_variance"]) == fe.n_mels
    assert all(v > 0 for v in ref["band_variance"])


def test_format_2_round_trip_and_format_1_still_loads(tmp_path):
    cal = _cal(scale=(1.5,) * 64)
    back = load(save(cal, tmp_path / "c.json"))
    assert back.input_scale == (1.5,) * 64
    assert back.summary()["band_normalised"] is True
    d = json.loads((tmp_path / "c.json").read_text())
    assert d["format"] == "heartsound-calibration/2"
    d1 = {k: v for k, v in d.items() if k != "input_scale"}
    d1["format"] = "heartsound-calibration/1"
    (tmp_path / "old.json").write_text(json.dumps(d1))
    old = load(tmp_path / "old.json")
    assert old.input_scale is None and old.threshold == cal.threshold
    d1["format"] = "heartsound-calibration/9"
    (tmp_path / "new.json").write_text(json.dumps(d1))
    with pytest.raises(ParameterError, match="not one this heartsound reads"):
        load(tmp_path / "new.json")
    d["input_scale"] = [1.0, -2.0]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ParameterError, match="positive"):
        load(tmp_path / "bad.json")


@pytest.mark.slow
def test_rescore_runs_the_model_on_the_scaled_input():
    rec = load_audio(example_path())
    plain = classify(rec.y, rec.sr, task="abnormal")
    assert rescore(_cal(), plain, rec.y, rec.sr) is plain  # no input_scale: unchanged
    same = rescore(_cal(scale=(1.0,) * 64), plain, rec.y, rec.sr)
    assert same.probabilities["abnormal"] == pytest.approx(plain.probabilities["abnormal"],
                                                           abs=1e-6)
    scale = np.linspace(0.5, 2.0, 64)
    moved = rescore(_cal(scale=tuple(scale)), plain, rec.y, rec.sr)
    x = features(rec.y, rec.sr, model_frontend("abnormal"))
    direct = classify(rec.y, rec.sr, task="abnormal", features=scale_input(x, scale))
    assert moved.probabilities["abnormal"] == pytest.approx(
        direct.probabilities["abnormal"], abs=1e-6)
    assert abs(moved.probabilities["abnormal"] - plain.probabilities["abnormal"]) > 1e-4


def _site(root, n: int = 3) -> list[tuple[str, str]]:
    """The first ``n`` normal and ``n`` abnormal recordings of PhysioNet database f."""
    ref = (root / "training-f" / "REFERENCE.csv").read_text().split()
    rows = [r.split(",") for r in ref]
    pick = ([r for r in rows if r[1] == "-1"][:n] + [r for r in rows if r[1] == "1"][:n])
    return [(f"training-f/{rec}.flac", "abnormal" if lab == "1" else "normal")
            for rec, lab in pick]


@pytest.mark.corpus
@pytest.mark.slow
def test_cli_calibrate_band_norm_then_analyze(physionet_root, tmp_path, capsys):
    site = _site(physionet_root)
    (tmp_path / "labels.csv").write_text(
        "file,label\n" + "".join(f"{f},{lab}\n" for f, lab in site))
    out = tmp_path / "cal.json"
    assert cli_main(["calibrate", "--task", "abnormal", "--labels",
                     str(tmp_path / "labels.csv"), "--audio", str(physionet_root),
                     "--out", str(out), "--method", "platt", "--band-norm"]) == 0
    cal = load(out)
    files = [physionet_root / f for f, _ in site]
    raw, _, scale = normalised_scores_of("abnormal", files)
    assert cal.input_scale == pytest.approx(tuple(scale))
    assert cal.provenance["n_per_class"] == {"abnormal": 3, "normal": 3}
    capsys.readouterr()
    assert cli_main(["analyze", str(files[0]), "--tasks", "abnormal", "--calibration",
                     str(out), "--json", "--no-plots", "--out", str(tmp_path / "res")]) == 0
    c = json.loads(capsys.readouterr().out)["classification"]["abnormal"]
    assert c["calibration"]["band_normalised"] is True
    # the raw score is the model's on the scaled input, as at calibration time
    assert c["calibration"]["raw_score"] == pytest.approx(raw[0], abs=1e-5)
    q = cal.calibrated(np.array([raw[0]]))[0]
    assert c["probabilities"]["abnormal"] == pytest.approx(q, abs=1e-5)


def test_cli_band_norm_is_not_available_for_murmur(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("file,label\nx.wav,Present\n")
    code = cli_main(["calibrate", "--task", "murmur", "--labels", str(tmp_path / "labels.csv"),
                     "--out", str(tmp_path / "c.json"), "--band-norm"])
    assert code != 0
    assert "available for abnormal" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_embedding_output_reproduces_the_logits():
    if os.environ.get("CI", "").lower() != "true":
        pytest.importorskip("onnx")
    import onnx
    import onnxruntime as ort

    from heartsound.calibration.embedding import add_embedding_output, recording_embedding

    spec = bundle.REGISTRY["abnormal"]
    m = onnx.load_from_string(files(bundle.MODELS_PACKAGE).joinpath(spec.file).read_bytes())
    m2 = add_embedding_output(m)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s1 = ort.InferenceSession(m.SerializeToString(), so)
    s2 = ort.InferenceSession(m2.SerializeToString(), so)
    x = np.random.default_rng(0).normal(size=(150, 68)).astype(np.float32)
    fe = model_frontend("abnormal")
    lp, emb = recording_embedding(lambda b: s2.run(None, {"features": b}), x, fe)
    lp1, _ = recording_embedding(lambda b: s1.run(None, {"features": b}) + [b[:, :1]], x, fe)
    assert lp == pytest.approx(lp1, abs=1e-6)  # the original outputs are unchanged
    init = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    w, b = init["head.cla.weight"][:, :, 0], init["head.cla.bias"]
    out = np.einsum("kc,kc->k", w, emb.reshape(2, -1)) + b  # the head on the embedding
    # crop logits are linear in the crop embedding, so the means agree
    assert out[1] - out[0] == pytest.approx(lp[1] - lp[0], abs=1e-4)
