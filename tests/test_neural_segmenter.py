"""Neural segmenter (method "neural"): shipped ONNX model, export fidelity, oracles."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

import numpy as np
import pytest

from heartsound.errors import (EmptyAudioError, ModelError, NonFiniteAudioError,
                               SampleRateError, SilentAudioError, TooShortError)
from heartsound.segmentation import neural
from heartsound.segmentation.result import Segmentation


@pytest.fixture(scope="module")
def segmenter() -> neural.NeuralSegmenter:
    return neural.NeuralSegmenter().load()


def assert_valid_sequence(seg: Segmentation, n_frames: int) -> None:
    """States 1-4 (0 where no heart sound is supported); every change between defined
    states follows S1 -> systole -> S2 -> diastole -> S1, and most frames are defined."""
    s = np.asarray(seg.states).astype(int)
    assert s.shape == (n_frames,)
    assert set(np.unique(s)) <= {0, 1, 2, 3, 4}
    assert np.mean(s > 0) > 0.7  # edge sounds cut by the recording may be dropped
    a, b = s[:-1], s[1:]
    change = (a != b) & (a > 0) & (b > 0)
    assert np.all(b[change] == a[change] % 4 + 1)


def synthetic_pcg(sr: int, duration_s: float, rng: np.random.Generator, *,
                  hr_bpm: float = 72.0, systole_s: float = 0.32
                  ) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Low-pitched S1 (55 Hz, 110 ms) and higher S2 (110 Hz, 80 ms) Gaussian-windowed
    bursts, plus weak white noise; returns the audio and the sound centres."""
    t = np.arange(int(duration_s * sr)) / sr
    y = 0.01 * rng.standard_normal(t.size)
    cycle = 60.0 / hr_bpm
    events = []
    c = 0.3
    while c + cycle < duration_s:
        for sound, centre, f0, width, amp in (("S1", c, 55.0, 0.11, 1.0),
                                               ("S2", c + systole_s, 110.0, 0.08, 0.7)):
            w = np.exp(-0.5 * ((t - centre) / (width / 5)) ** 2)
            y += amp * w * np.sin(2 * np.pi * f0 * (t - centre))
            events.append((sound, centre))
        c += cycle
    return y, events


def test_shipped_model_metadata_and_card(segmenter: neural.NeuralSegmenter) -> None:
    model = segmenter.model_
    assert model is not None
    assert model.labels == ("S1", "systole", "S2", "diastole")
    assert model.frame_rate == 50.0
    data = files("heartsound.models").joinpath(neural.MODEL_FILE).read_bytes()
    assert len(data) < 5 * 2 ** 20
    sha = hashlib.sha256(data).hexdigest()
    assert model.sha256 == sha
    card = files("heartsound.models").joinpath("segmenter_neural.md").read_text()
    assert sha in re.findall(r"[0-9a-f]{64}", card)
    assert "ODC-By 1.0" in card and "CirCor" in card


def test_onnx_matches_torch(segmenter: neural.NeuralSegmenter, rng) -> None:
    """The shipped ONNX graph and the PyTorch network it was exported from agree.

    The exporter folds batch norm into the convolutions, so the torch network gets the
    folded weights and identity batch norms."""
    torch = pytest.importorskip("torch")

    import onnx
    from onnx import numpy_helper

    from heartsound.training import segmenter as tr

    model = segmenter.model_
    assert model is not None
    cfg = model.metadata["config"]
    data = files("heartsound.models").joinpath(neural.MODEL_FILE).read_bytes()
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(data).graph.initializer}
    net = tr.SegmenterNet(model.n_features, cfg["widths"], cfg["dropout"], softmax=True)
    state = net.state_dict()
    new = {}
    for key, value in state.items():
        if key in weights:
            new[key] = torch.from_numpy(weights[key].copy())
        elif key.endswith("running_var"):
            new[key] = torch.full_like(value, 1.0 - 1e-5)  # (x - 0) / sqrt(var + eps) = x
        elif key.endswith("running_mean") or key.endswith(".bias"):
            new[key] = torch.zeros_like(value)
        elif key.endswith(".weight"):
            new[key] = torch.ones_like(value)
        else:
            new[key] = value
    assert sum(k in weights for k in state) == len(weights)
    net.load_state_dict(new)
    net.eval()
    for n in (51, 333, 1000):  # any length: ModelBundle.run pads to the time multiple
        x = rng.standard_normal((n, model.n_features)).astype(np.float32)
        p_ort = model.run(x)
        xp = np.pad(x, ((0, (-n) % model.time_multiple), (0, 0)))
        with torch.no_grad():
            p_t = net(torch.from_numpy(xp[None]))[0, :n].numpy()
        assert p_ort.shape == (n, 4)
        np.testing.assert_allclose(p_ort, p_t, atol=1e-4)
        np.testing.assert_allclose(p_ort.sum(axis=1), 1.0, atol=1e-5)


def test_real_circor_recording(segmenter: neural.NeuralSegmenter, circor_root) -> None:
    from heartsound.datasets.circor2022 import read_tsv
    from heartsound.io import load
    from heartsound.evaluation.metrics import score_against_rows

    # a functional check, not a figure: the shipped model was trained on all of CirCor
    stem = circor_root / "recordings" / "9979_MV"
    rec = load(stem.with_suffix(".flac"))
    seg = segmenter.segment(rec.y, rec.sr)
    assert seg.method == "neural"
    assert_valid_sequence(seg, int(np.ceil(rec.duration_s * 50)))
    assert seg.posteriors is not None and seg.posteriors.shape == (len(seg.states), 4)
    scores = score_against_rows(read_tsv(stem.with_suffix(".tsv")), seg.events(), 0.06)
    assert scores["tp"] >= 30
    assert scores["f1"] >= 0.95


@pytest.mark.parametrize("sr", [2000, 4000, 44100])
def test_synthetic_pcg_known_sounds(segmenter: neural.NeuralSegmenter, rng, sr) -> None:
    from heartsound.evaluation.metrics import event_scores

    y, ref = synthetic_pcg(sr, 10.0, rng)
    seg = segmenter.segment(y, sr)
    assert_valid_sequence(seg, 500)
    scores = event_scores(ref, seg.events(), 0.06, span=(0.5, 9.5))
    assert scores["S1"]["f1"] >= 0.9 and scores["S2"]["f1"] >= 0.9
    assert abs(seg.heart_rate_bpm - 72.0) < 5.0


@pytest.mark.parametrize("duration_s", [2.0, 60.0])
def test_any_length(segmenter: neural.NeuralSegmenter, rng, duration_s) -> None:
    y, _ = synthetic_pcg(2000, duration_s, rng)
    seg = neural.segment(y, 2000, model=segmenter)
    assert_valid_sequence(seg, int(round(duration_s * 50)))


def test_registry_default_is_neural(rng) -> None:
    from heartsound.segmentation import DEFAULT_METHOD, segment

    assert DEFAULT_METHOD == "neural"
    y, _ = synthetic_pcg(2000, 4.0, rng)
    assert segment(y, 2000).method == "neural"


@pytest.mark.parametrize("y, sr, error", [
    (np.zeros(0), 2000, EmptyAudioError),
    (np.zeros(4000), 2000, SilentAudioError),
    (np.ones(1000), 2000, TooShortError),
    (np.r_[np.ones(3000), np.nan], 2000, NonFiniteAudioError),
    (np.ones(4000), 100, SampleRateError),
])
def test_bad_input_raises(segmenter: neural.NeuralSegmenter, y, sr, error) -> None:
    with pytest.raises(error):
        segmenter.segment(y, sr)


def test_shift_states_keeps_order() -> None:
    s = np.array([4, 1, 1, 2, 2, 2, 3, 3, 4, 4], dtype=np.int8)
    out = neural.shift_states(s, 1)
    np.testing.assert_array_equal(out, [1, 1, 2, 2, 2, 3, 3, 4, 4, 4])
    np.testing.assert_array_equal(neural.shift_states(s, 0), s)


def test_rate_from_posteriors_oracle() -> None:
    """Posteriors of a 90 bpm rhythm with a 0.25 s S1-S2 lag give those figures back."""
    fr = 50.0
    n = 1000
    t = np.arange(n) / fr
    cycle = 60.0 / 90.0
    ph = t % cycle
    post = np.full((n, 4), 0.02)
    post[(ph < 0.1), 0] = 1.0
    post[(ph >= 0.1) & (ph < 0.25), 1] = 1.0
    post[(ph >= 0.25) & (ph < 0.33), 2] = 1.0
    post[ph >= 0.33, 3] = 1.0
    hr, sys_s, _ = neural.rate_from_posteriors(post / post.sum(1, keepdims=True))[0]
    assert abs(hr - 90.0) < 2.0
    assert abs(sys_s - 0.25) < 0.04


def test_bad_model_file_raises(tmp_path) -> None:
    with pytest.raises(ModelError):
        neural.load_model(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError):
        neural.load_model(junk)


def _toy_cache(rng: np.random.Generator):
    """Six 'recordings' of 400 frames: 12 features that carry the state (plus noise),
    periodic S1/systole/S2/diastole labels with an unannotated start."""
    from heartsound.training.segmenter import FeatureCache

    cycle = np.repeat([1, 2, 3, 4], [6, 14, 5, 15])
    feats, labels = [], []
    for _ in range(6):
        lab = np.tile(cycle, 10)[:400].astype(np.int8)
        lab[:20] = 0
        x = rng.standard_normal((400, 12)).astype(np.float32)
        x[:, :4] += 2.0 * np.eye(5, dtype=np.float32)[lab][:, 1:]
        feats.append([x])
        labels.append([lab])
    return FeatureCache([f"r{i}" for i in range(6)], [f"p{i}" for i in range(6)], feats, labels)


@pytest.mark.slow
def test_seeded_segmenter_training_reproduces_the_recorded_run() -> None:
    """Known answer: a tiny seeded U-Net run gives the losses, priors and durations
    recorded with the code before the training package was split (commit 20b1f64)."""
    pytest.importorskip("torch")
    from heartsound.training import segmenter as tr

    cache = _toy_cache(np.random.default_rng(7))
    cfg = tr.TrainConfig(widths=(4, 4, 4), max_epochs=2, windows_per_epoch=16, batch_size=4,
                         window_s=3.0, val_fraction=0.2)
    t = tr.train(cache, range(6), cfg)
    np.testing.assert_allclose([h["train_loss"] for h in t.history],
                               [1.4106938540935516, 1.341842532157898], rtol=1e-5)
    np.testing.assert_allclose([h["val_loss"] for h in t.history],
                               [1.4022817511307566, 1.3845727217824835], rtol=1e-5)
    assert (t.n_train_records, t.n_val_records) == (5, 1)
    assert t.state_priors == [0.14211, 0.33158, 0.13158, 0.39474]
    assert t.sound_durations == {"S1": [0.12, 0.02], "S2": [0.1, 0.02]}
