"""Classification: front end oracles, attention properties, ONNX/torch agreement, shipped
models (checksums, valid outputs on real recordings, any length), bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib.resources import files

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from heartsound.classification.attention import attention_by_phase, stitch  # noqa: E402
from heartsound.classification.crops import crops  # noqa: E402
from heartsound.classification.frontend import (FrontendConfig, frame_times,  # noqa: E402
                                                hz_to_mel, log_mel, mel_filterbank,
                                                mel_to_hz, n_frames, phase_shares)
from heartsound.classification.tasks import (LABELS, aggregate_patient,  # noqa: E402
                                             recording_target)
from heartsound.errors import (AudioError, EmptyAudioError, NonFiniteAudioError,  # noqa: E402
                               ParameterError, SampleRateError, SilentAudioError,
                               TooShortError)

CFG = FrontendConfig()


# ----------------------------------------------------------------------------- front end

@pytest.mark.parametrize("n", [256, 257, 383, 384, 2000, 8320, 240000])
def test_frame_count_formula(n):
    assert n_frames(n, CFG) == 1 + (n - 256) // 128
    y = np.random.default_rng(n).standard_normal(n)
    assert log_mel(y, 2000, CFG).shape == (1 + (n - 256) // 128, 64)


def test_frame_count_short_signal_is_zero():
    assert n_frames(255, CFG) == 0


@pytest.mark.parametrize("f0", [50.0, 120.0, 300.0, 600.0, 900.0])
def test_pure_tone_peaks_in_its_mel_band(f0):
    sr = 2000
    t = np.arange(4 * sr) / sr
    m = log_mel(np.sin(2 * np.pi * f0 * t), sr, FrontendConfig(normalize="none"))
    centres = mel_to_hz(np.linspace(hz_to_mel(CFG.fmin), hz_to_mel(CFG.fmax), 66))[1:-1]
    expected = int(np.argmin(np.abs(centres - f0)))
    peak = np.bincount(m.argmax(axis=1)).argmax()
    assert abs(int(peak) - expected) <= 1


def test_resampled_input_matches_native_rate():
    t4 = np.arange(4 * 4000) / 4000
    t2 = np.arange(4 * 2000) / 2000
    a = log_mel(np.sin(2 * np.pi * 200 * t4), 4000)
    b = log_mel(np.sin(2 * np.pi * 200 * t2), 2000)
    assert a.shape == b.shape
    assert a.argmax(axis=1).tolist() == b.argmax(axis=1).tolist()


def test_filterbank_peaks_are_one_and_no_band_is_empty():
    fb = mel_filterbank(2000, 256, 64, 25.0, 1000.0)
    assert fb.shape == (64, 129)
    assert np.all(fb.max(axis=1) > 0.4) and fb.max() <= 1.0 + 1e-12


def test_too_many_bands_raise():
    with pytest.raises(ParameterError):
        mel_filterbank(4000, 256, 128, 0.0, 1000.0)


def test_recording_normalisation_is_gain_invariant(rng):
    y = rng.standard_normal(6000)
    np.testing.assert_allclose(log_mel(y, 2000), log_mel(100 * y, 2000), atol=1e-4)


def test_frame_times_are_window_centres():
    np.testing.assert_allclose(frame_times(3), [0.064, 0.128, 0.192])


def test_crops_cover_every_frame():
    f = np.arange(100 * 64, dtype=np.float32).reshape(100, 64)
    batch, starts = crops(f, CFG)
    assert batch.shape[1:] == (64, 64)
    covered = np.zeros(100, bool)
    for s in starts:
        covered[s:s + 64] = True
    assert covered.all() and starts[-1] == 100 - 64


def test_short_features_are_tiled_to_one_crop():
    f = np.arange(10 * 64, dtype=np.float32).reshape(10, 64)
    batch, starts = crops(f, CFG)
    assert batch.shape == (1, 64, 64) and starts.tolist() == [0]
    np.testing.assert_array_equal(batch[0, 10:20], f)


def test_bad_config_raises():
    with pytest.raises(ParameterError, match="normalisation"):
        FrontendConfig(normalize="zscore")
    with pytest.raises(ParameterError):
        FrontendConfig(fmax=1500.0)


# ----------------------------------------------------------------------------- attention

def test_stitch_sums_to_one_and_is_nonnegative(rng):
    maps = rng.random((5, 4, 4))
    maps /= maps.sum(axis=(1, 2), keepdims=True)
    out = stitch(maps, np.array([0, 32, 64, 96, 128]), 192, 64, 64)
    assert out.shape == (192, 64)
    assert out.min() >= 0 and np.isclose(out.sum(), 1.0)


def test_stitch_time_frequency_map_is_float32_and_matches_float64(rng):
    """The 2-D map is accumulated in float32 (half the memory); its phase shares agree
    with a float64 accumulation far below the JSON's 6 decimals."""
    starts = np.arange(0, 1984 - 64 + 1, 32)
    maps = rng.random((len(starts), 4, 4))
    maps /= maps.sum(axis=(1, 2), keepdims=True)
    out = stitch(maps, starts, 1984, 64, 64)
    assert out.dtype == np.float32 and np.isclose(out.sum(dtype=np.float64), 1.0)
    ref = np.zeros((1984, 64))
    cover = np.zeros(1984)
    for a, s in zip(maps, starts):  # nearest-neighbour upsampling: 16 x 16 frames per cell
        ref[s:s + 64] += np.repeat(np.repeat(a, 16, axis=0), 16, axis=1) / 256.0
        cover[s:s + 64] += 1
    ref /= cover[:, None]
    ref /= ref.sum()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1, dtype=np.float64)[:1000].sum(),
                               ref.sum(axis=1)[:1000].sum(), atol=1e-7)


def test_stitch_short_recording_folds_tiles():
    maps = np.zeros((1, 4))
    maps[0, 0] = 1.0  # all attention on the first quarter of the crop
    out = stitch(maps, np.array([0]), 10, 64)
    assert out.shape == (10,) and np.isclose(out.sum(), 1.0)


class _Seg:
    frame_rate = 50.0

    def __init__(self, states):
        self.states = np.asarray(states)


def test_attention_by_phase_oracle():
    # 4 s: S1 0-1 s, systole 1-2 s, S2 2-3 s, diastole 3-4 s; all attention in second 3
    seg = _Seg(np.repeat([1, 2, 3, 4], 50))
    times = np.arange(40) * 0.1 + 0.05
    att = np.zeros(40)
    att[20:30] = 0.1
    shares = attention_by_phase(att, times, seg)
    assert shares["S2"] == pytest.approx(1.0)
    assert shares["S2_ratio"] == pytest.approx(4.0)
    uniform = attention_by_phase(np.full(40, 1 / 40), times, seg)
    for ph in ("S1", "systole", "S2", "diastole"):
        assert uniform[ph] == pytest.approx(0.25, abs=0.02)


def test_phase_shares_oracle():
    # 50 Hz states: 0.5 s unsegmented, then 1 s S1, 1 s systole, 1 s S2, 1 s diastole
    states = np.repeat([0, 1, 2, 3, 4], [25, 50, 50, 50, 50])
    n = n_frames(int(4.5 * 2000), CFG)
    p = phase_shares(states, 50.0, n, CFG)
    assert p.shape == (n, 4) and p.dtype == np.float32
    assert np.all(p >= 0) and np.all(p.sum(1) <= 1 + 1e-6)
    t = frame_times(n, CFG)
    u = (t - 0.5) % 1.0  # boundaries every second from 0.5 s
    whole = np.minimum(u, 1 - u) > 0.065  # the 128 ms window lies inside one state
    for k in np.flatnonzero(whole & (t > 0.5)):
        assert p[k, int(t[k] - 0.5)] == pytest.approx(1.0)
    assert np.all(p[t < 0.43] == 0)  # before any segmented frame
    # across the S1/systole boundary at 1.5 s the S1 share falls from 1 to 0 while the two
    # shares sum to one, and it is above one half exactly for windows centred before it
    near = np.flatnonzero(np.abs(t - 1.5) < 0.2)
    np.testing.assert_allclose(p[near, 0] + p[near, 1], 1.0, atol=1e-6)
    assert np.all(np.diff(p[near, 0]) <= 1e-6) and p[near[0], 0] == 1 and p[near[-1], 0] == 0
    np.testing.assert_array_equal(p[near, 0] > 0.5, t[near] < 1.5)
    # the same boundary at another state rate gives the same shares
    p100 = phase_shares(np.repeat(states, 2), 100.0, n, CFG)
    np.testing.assert_allclose(p100, p, atol=0.06)


def test_phase_channel_features(rng):
    from heartsound.classification.frontend import features

    y = rng.standard_normal(6 * 2000)
    cfg = FrontendConfig(phase_channels=True)
    seg = _Seg(np.repeat([1, 2, 3, 4], 75))
    f = features(y, 2000, cfg, segmentation=seg)
    assert cfg.n_features == 68 and f.shape == (n_frames(len(y), cfg), 68)
    np.testing.assert_array_equal(f[:, :64], log_mel(y, 2000, cfg))
    np.testing.assert_array_equal(f[:, 64:], phase_shares(seg.states, 50.0, len(f), cfg))
    np.testing.assert_array_equal(features(y, 2000, CFG), log_mel(y, 2000, CFG))
    assert "phase_channels" not in CFG.to_dict()  # old bundles and caches compare equal
    assert FrontendConfig.from_dict(cfg.to_dict()) == cfg
    # too short for the segmenter (< 1 s): nothing segmented, no error
    short = features(rng.standard_normal(1500), 2000, cfg)
    assert short.shape[1] == 68 and np.all(short[:, 64:] == 0)


# ----------------------------------------------------------------------------- tasks

class _Rec:
    def __init__(self, corpus, label, **labels):
        self.corpus, self.label, self.labels, self.id = corpus, label, labels, "x"


def test_recording_targets():
    present_here = _Rec("circor2022", "Present", murmur_at_location=True,
                        systolic_murmur_grading="II/VI")
    present_elsewhere = _Rec("circor2022", "Present", murmur_at_location=False,
                             systolic_murmur_grading="I/VI")
    assert recording_target("murmur", present_here) == "Present"
    assert recording_target("murmur", present_elsewhere) == "Absent"
    assert recording_target("severity", present_here) == "moderate_severe"
    assert recording_target("severity", present_elsewhere) is None
    assert recording_target("abnormal", present_here) == "abnormal"
    assert recording_target("abnormal", _Rec("circor2022", "Unknown")) is None
    assert recording_target("abnormal", _Rec("pascal2011", "murmur")) == "abnormal"
    assert recording_target("severity", _Rec("circor2022", "Present",
                                             murmur_at_location=True)) is None


def test_murmur_aggregation_rule():
    rules = {"t_present": 0.6, "t_unknown": 0.4}
    p = np.array([[0.1, 0.2, 0.7], [0.7, 0.1, 0.2]])
    assert aggregate_patient("murmur", p, rules)[0] == "Present"
    p = np.array([[0.1, 0.5, 0.4], [0.2, 0.4, 0.4]])
    assert aggregate_patient("murmur", p, rules)[0] == "Unknown"
    p = np.array([[0.1, 0.1, 0.8]])
    assert aggregate_patient("murmur", p, rules)[0] == "Absent"


def _murmur_val_set(rng, n_per_class=(8, 4, 20), noise=0.0):
    """Two recordings per CirCor-like patient; P(Present) of the patient's first recording
    is 0.8 for Present patients and 0.2 otherwise, mean P(Unknown) 0.6 for Unknown
    patients and 0.1 otherwise (plus optional noise): thresholds in (0.2, 0.8] for
    t_present and (0.1, 0.6] for t_unknown separate the classes."""
    recs, probs = [], []
    for lab, n in zip(LABELS["murmur"], n_per_class):
        for i in range(n):
            for j in range(2):
                r = _Rec("circor2022", lab, patient_id=f"{lab}{i}")
                r.id = f"{lab}{i}_{j}"
                recs.append(r)
                pp = 0.8 if (lab == "Present" and j == 0) else 0.2
                pu = 0.6 if lab == "Unknown" else 0.1
                pp, pu = pp + noise * rng.uniform(-1, 1), pu + noise * rng.uniform(-1, 1)
                probs.append([pp, pu, 1 - pp - pu])
    return recs, np.array(probs)


@pytest.mark.parametrize("method", ["grid", "bagged"])
def test_tuned_murmur_rules_separate_a_separable_validation_set(method, rng):
    from heartsound.training.classifier import patient_decisions, tune_rules

    recs, probs = _murmur_val_set(rng, noise=0.05)
    rules = tune_rules("murmur", recs, probs, method)
    assert 0.2 < rules["t_present"] <= 0.8 and 0.1 < rules["t_unknown"] <= 0.6
    _, truth, pred = patient_decisions("murmur", recs, probs, rules)
    assert truth == pred


def test_bagged_rules_are_seeded_and_unknown_method_raises(rng):
    from heartsound.training.classifier import tune_rules

    recs, probs = _murmur_val_set(rng, noise=0.3)
    a = tune_rules("murmur", recs, probs, "bagged", seed=3)
    assert a == tune_rules("murmur", recs, probs, "bagged", seed=3)
    with pytest.raises(ParameterError, match="grid, bagged"):
        tune_rules("murmur", recs, probs, "median")


def test_early_stopping_auc_oracle_and_bad_name():
    pytest.importorskip("torch")
    from heartsound.training.classifier import TrainConfig, macro_auc

    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = np.eye(3)[y] * 0.8 + 0.1
    assert macro_auc(y, perfect) == pytest.approx(1.0)
    assert macro_auc(y, perfect[:, [1, 2, 0]]) == pytest.approx(0.25)
    with pytest.raises(ParameterError, match="uar, auc"):
        TrainConfig(task="murmur", early_stop="loss")


def test_unknown_task_lists_valid_names():
    from heartsound.classification import classify

    with pytest.raises(ParameterError, match="abnormal, murmur, severity"):
        classify(np.ones(4000), 2000, task="mitral")


# ----------------------------------------------------------------------------- torch vs ORT

@pytest.mark.parametrize("model,attention,bidirectional,members", [
    ("cnn", "sigmoid", False, 1), ("cnn", "softmax", False, 1), ("cnn", None, False, 1),
    ("gru", "sigmoid", False, 1), ("lstm", "softmax", False, 1), ("gru", "sigmoid", True, 1),
    ("lstm", "softmax", True, 1), ("cnn", "sigmoid", False, 3), ("gru", "sigmoid", True, 3)])
def test_onnx_matches_torch_and_attention_sums_to_one(tmp_path, model, attention,
                                                      bidirectional, members, rng):
    """One network, or a cross-fitted ensemble of ``members`` exported as one graph."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from heartsound.training.classifier import (Trained, TrainConfig, build_model,
                                                ensemble_module, export_onnx, model_card)

    cfg = TrainConfig(task="murmur", model=model, attention=attention, widths=(4, 8, 8, 8),
                      rnn_units=(8, 8, 8), bidirectional=bidirectional, inner_folds=members)
    torch.manual_seed(0)
    net = (build_model(cfg) if members == 1
           else ensemble_module([build_model(cfg) for _ in range(members)])).eval()
    path = tmp_path / "m.onnx"
    export_onnx(Trained(net, cfg, {"t_present": 0.5, "t_unknown": 0.5}, [], []), path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    # the export's crop length (64 frames) and other lengths (dynamic time axis)
    for length in (64, 96, 32):
        x = rng.standard_normal((3, length, 64)).astype(np.float32)
        with torch.no_grad():
            lp_t, att_t = (v.numpy() for v in net(torch.from_numpy(x)))
        lp_o, att_o = sess.run(None, {"features": x})
        np.testing.assert_allclose(lp_o, lp_t, atol=1e-4)
        np.testing.assert_allclose(att_o, att_t, atol=1e-5)
        assert lp_o.shape == (3, 3)
        if model != "cnn":  # one attention weight per input frame
            assert att_o.shape == (3, 3, length)
        assert att_o.min() >= 0
        np.testing.assert_allclose(att_o.reshape(3, 3, -1).sum(-1), 1.0, atol=1e-5)
    if model != "cnn":
        # causality oracle: change only frame 2. The attention is normalised over time, so
        # compare the ratio of the weights of frames 0 and 1, which a forward-only RNN
        # cannot change (their states precede the change); the backward direction does.
        x2 = x.copy()
        x2[:, 2] += 3.0
        att2 = sess.run(None, {"features": x2})[1]
        r1, r2 = att_o[:, :, 0] / att_o[:, :, 1], att2[:, :, 0] / att2[:, :, 1]
        if bidirectional:
            assert np.abs(r2 / r1 - 1).max() > 1e-3
        else:
            np.testing.assert_allclose(r2, r1, rtol=1e-4)
    meta = json.loads(sess.get_modelmeta().custom_metadata_map["heartsound"])
    assert meta["labels"] == list(LABELS["murmur"])
    card = model_card(path, command="heartsound train classifier ...")
    assert ("ensemble of" in card) is (members > 1)
    if members > 1:
        assert f"ensemble of {members}" in card
    if model != "cnn":
        assert meta["train"]["bidirectional"] is bidirectional
        assert meta["architecture"] == ("bi" if bidirectional else "") + f"{model}+{attention}"
        assert f"bidirectional {'yes' if bidirectional else 'no'}" in card
    from heartsound.classification import classify

    r = classify(0.1 * rng.standard_normal(12000), 2000, task="murmur", model=str(path))
    assert r.model.startswith("m:") and r.label in LABELS["murmur"]
    from heartsound.errors import ModelError

    with pytest.raises(ModelError, match="expected 'abnormal'"):
        classify(0.1 * rng.standard_normal(12000), 2000, task="abnormal", model=str(path))


def test_phase_channel_model_exports_and_classifies(tmp_path, rng):
    """A GRU with phase channels: 68 inputs per frame in torch, ONNX and ``classify``,
    which segments the recording itself or uses the segmentation it is given."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from heartsound.classification import classify
    from heartsound.segmentation import segment
    from heartsound.training.classifier import (Trained, TrainConfig, augment, build_model,
                                                export_onnx, model_card)

    fe = FrontendConfig(phase_channels=True)
    with pytest.raises(ParameterError, match="phase channels"):
        TrainConfig(task="murmur", model="cnn", frontend=fe)
    cfg = TrainConfig(task="murmur", model="gru", rnn_units=(8, 8, 8), frontend=fe)
    x = rng.standard_normal((4, 64, 68)).astype(np.float32)
    aug = augment(x, np.random.default_rng(0), fe.n_mels)
    np.testing.assert_array_equal(aug[..., 64:], x[..., 64:])  # phases never augmented
    assert not np.array_equal(aug[..., :64], x[..., :64])
    np.testing.assert_array_equal(augment(x, np.random.default_rng(0)),
                                  augment(x, np.random.default_rng(0), None))
    torch.manual_seed(0)
    net = build_model(cfg).eval()
    path = tmp_path / "phase.onnx"
    export_onnx(Trained(net, cfg, {"t_present": 0.5, "t_unknown": 0.5}, [], []), path)
    assert "4 phase channels" in model_card(path, command="heartsound train classifier ...")
    y = 0.1 * rng.standard_normal(8 * 2000)
    seg = segment(y, 2000)
    own = classify(y, 2000, task="murmur", model=str(path))
    given = classify(y, 2000, task="murmur", model=str(path), segmentation=seg)
    assert own.probabilities == given.probabilities
    assert own.spectrogram.shape[1] == 64
    flipped = classify(y, 2000, task="murmur", model=str(path),
                       segmentation=_Seg(np.where(seg.states > 0, 5 - seg.states, 0)))
    assert flipped.probabilities != own.probabilities  # the phases reach the network
    with pytest.raises(ParameterError, match=r"\(n_frames, 68\)"):
        classify(y, 2000, task="murmur", model=str(path), features=log_mel(y, 2000, fe))


def test_classify_all_segments_once(rng, monkeypatch):
    """Shipped models with phase channels share one segmentation per recording."""
    from heartsound.classification import classify_all, inference
    from heartsound.classification.inference import _load

    calls = []
    real = inference.segment

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(inference, "segment", counting)
    y = 0.1 * rng.standard_normal(8 * 2000)
    res = classify_all(y, 2000)
    n_phase = sum(_load(t).frontend.phase_channels for t in TASKS)
    assert len(calls) == (1 if n_phase else 0)
    seg = real(y, 2000)
    again = classify_all(y, 2000, segmentation=seg)
    assert len(calls) == (1 if n_phase else 0)  # a given segmentation is used as it is
    for t in TASKS:
        assert again[t].probabilities == res[t].probabilities
        # one log-Mel kept, only where a time x frequency map is drawn over it
        assert (res[t].spectrogram is None) == (res[t].attention.ndim == 1)


def test_half_weights_halve_the_file_and_keep_the_outputs(tmp_path, rng):
    """``export_onnx(half_weights=True)``: float16 storage, float32 arithmetic."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from heartsound.training.classifier import (Trained, TrainConfig, build_model,
                                                ensemble_module, export_onnx, model_card)

    cfg = TrainConfig(task="murmur", model="gru", widths=(4, 8, 8, 8), rnn_units=(32, 32, 32),
                      bidirectional=True, inner_folds=2)
    torch.manual_seed(0)
    net = ensemble_module([build_model(cfg) for _ in range(2)]).eval()
    trained = Trained(net, cfg, {"t_present": 0.5, "t_unknown": 0.5}, [], [])
    full, half = tmp_path / "full.onnx", tmp_path / "half.onnx"
    export_onnx(trained, full)
    export_onnx(trained, half, half_weights=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x = rng.standard_normal((2, 80, 64)).astype(np.float32)
    out = [ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
           .run(None, {"features": x}) for f in (full, half)]
    np.testing.assert_allclose(np.exp(out[1][0]), np.exp(out[0][0]), atol=2e-3)
    np.testing.assert_allclose(out[1][1], out[0][1], atol=2e-3)
    assert not np.array_equal(out[1][0], out[0][0])  # the weights really were rounded
    sess = ort.InferenceSession(str(half), providers=["CPUExecutionProvider"])
    meta = json.loads(sess.get_modelmeta().custom_metadata_map["heartsound"])
    assert meta["weights"] == "float16"
    assert "stored as float16" in model_card(half, command="heartsound train classifier ...")
    assert "float16" not in model_card(full, command="heartsound train classifier ...")


def test_missing_or_corrupt_model_file_raises_model_error(tmp_path):
    from heartsound.classification import classify
    from heartsound.errors import ModelError

    y = 0.1 * np.random.default_rng(0).standard_normal(4000)
    with pytest.raises(ModelError, match="not found"):
        classify(y, 2000, model=str(tmp_path / "none.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot be loaded"):
        classify(y, 2000, model=str(bad))


# ----------------------------------------------------------------------------- shipped models

TASKS = ("abnormal", "murmur", "severity")


@pytest.mark.parametrize("task", TASKS)
def test_model_card_sha256_matches_file_and_bundle(task):
    from heartsound.classification.inference import BUNDLES

    b = BUNDLES[task]
    data = files("heartsound.models").joinpath(b.file).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert len(data) < 5 * 1024 * 1024
    assert b.sha256 == sha
    card = files("heartsound.models").joinpath(b.card).read_text()
    assert re.search(r"sha256[^0-9a-f]*([0-9a-f]{64})", card).group(1) == sha
    from heartsound.classification.inference import _load

    if _load(task).frontend.phase_channels:
        # its inputs come from the shipped segmenter: retraining that one must be noticed
        seg = files("heartsound.models").joinpath("segmenter_neural.onnx").read_bytes()
        assert hashlib.sha256(seg).hexdigest() in card


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("seconds", [1.0, 120.0])
def test_any_length_gives_valid_probabilities(task, seconds, rng):
    from heartsound.classification import classify

    sr = 2000
    y = 0.1 * rng.standard_normal(int(seconds * sr))
    r = classify(y, sr, task=task)
    assert set(r.probabilities) == set(LABELS[task]) and r.label in LABELS[task]
    assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert r.attention.shape[0] == len(r.attention_times_s) == n_frames(len(y))
    assert r.attention.min() >= 0 and r.attention.sum() == pytest.approx(1.0)
    assert r.attention_times_s[-1] <= seconds


def test_classify_real_recordings(circor_root, physionet_root):
    from heartsound import load
    from heartsound.classification import classify, classify_all

    rec = load(physionet_root / "training-a" / "a0001.flac")
    r = classify(rec.y, rec.sr, task="abnormal")
    d = r.to_dict()
    assert set(d) == {"label", "probabilities", "model", "decision"}
    assert d["label"] in ("normal", "abnormal") and d["decision"]["label"] == d["label"]
    assert d["decision"]["threshold"] == 0.85  # the shipped bundle's tuned threshold
    rec = load(circor_root / "recordings" / "9979_AV.flac")
    allr = classify_all(rec.y, rec.sr)
    assert set(allr) == set(TASKS)
    for t, res in allr.items():
        assert res.task == t
        assert np.isclose(sum(res.probabilities.values()), 1.0, atol=1e-5)
    # classify_all reuses one front end; results equal single-task calls
    for t in TASKS:
        single = classify(rec.y, rec.sr, task=t)
        assert single.probabilities == pytest.approx(allr[t].probabilities)


def test_resampled_44k_input_is_accepted(pascal_root):
    from heartsound import load
    from heartsound.classification import classify

    f = sorted((pascal_root / "setA").glob("murmur__*.flac"))[0]
    rec = load(f)
    assert rec.sr == 44100
    r = classify(rec.y, rec.sr, task="abnormal")
    assert r.label in ("normal", "abnormal")


@pytest.mark.parametrize("y,sr,err", [
    (np.array([]), 2000, EmptyAudioError),
    (np.zeros(4000), 2000, SilentAudioError),
    (np.array([0.1, np.nan] * 2000), 2000, NonFiniteAudioError),
    (np.ones(1000) * 0.1, 2000, TooShortError),
    (np.ones(4000) * 0.1, 100, SampleRateError),
])
def test_bad_input_raises_heartsound_errors(y, sr, err):
    from heartsound.classification import classify

    with pytest.raises(err):
        classify(y, sr, task="abnormal")
    assert issubclass(err, AudioError)


def test_inference_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from heartsound.classification import classify; "
            "classify(0.1*np.random.default_rng(0).standard_normal(6000), 2000); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == "False"


def test_plot_attention_with_segmentation(tmp_path, rng):
    pytest.importorskip("matplotlib")
    from heartsound.classification import classify
    from heartsound.classification.plot import plot_attention
    from heartsound.segmentation.result import Segmentation

    y = 0.1 * rng.standard_normal(8 * 2000)
    r = classify(y, 2000, task="murmur")
    seg = Segmentation(states=np.tile(np.repeat([1, 2, 3, 4], [6, 14, 5, 15]), 10).astype(
        np.int8), frame_rate=50.0, method="test", heart_rate_bpm=75.0, systolic_interval_s=0.4)
    shares = r.attention_by_phase(seg)
    assert sum(shares[k] for k in ("S1", "systole", "S2", "diastole", "unsegmented")) \
        == pytest.approx(1.0)
    out = tmp_path / "att.png"
    fig = plot_attention(r, segmentation=seg, path=str(out))
    assert out.stat().st_size > 1000 and len(fig.axes) == 2


def test_cli_classify_json(circor_root):
    import subprocess
    import sys

    f = circor_root / "recordings" / "9979_AV.flac"
    out = subprocess.run([sys.executable, "-m", "heartsound", "classify", str(f), "--json"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    d = json.loads(out.stdout)
    assert set(d) == {"file", "abnormal", "murmur", "severity", "notes"}  # all tasks
    assert d["notes"] == {}  # a complete mono CirCor FLAC: nothing to note
    assert d["severity"]["label"] in LABELS["severity"]
    # 9979 has a grade III/VI murmur at every site: Present, so severity is graded
    assert d["murmur"]["label"] == "Present"
    assert d["severity"]["decision"]["rule"].startswith("murmur Present -> graded")
    for t in ("abnormal", "murmur", "severity"):
        assert d[t]["decision"]["caveat"] and d[t]["decision"]["rule"].endswith(d[t]["label"])


@pytest.mark.corpus
@pytest.mark.slow
def test_evaluate_on_pascal_set_a_reports_every_field(pascal_root):
    from heartsound.evaluation.classification import evaluate

    res = evaluate("abnormal", "pascal2011", pascal_root, sets=["A"])
    assert res["n"] == 65  # 31 normal + 34 murmur; extrahls/artifact have no target
    assert res["confusion"]["labels"] == ["normal", "abnormal"]
    assert np.sum(res["confusion"]["matrix"]) == 65
    assert 0 <= res["auc"] <= 1 and 0 <= res["macc"] <= 1
