"""Per-run evidence of a heart (heartsound.segmentation.run_evidence) and its use by the
presence check: known answers on constructed envelopes, spectra and sound sequences."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.segmentation.presence import (THRESHOLDS, aligned_posteriors, decide,
                                              run_passes, sound_spectra)
from heartsound.segmentation.presence_sounds import sound_shape, spectral_evidence
from heartsound.segmentation.run_evidence import (N_SOUNDS_CAP, RUN_FEATURES, RUN_INPUTS,
                                                  RUN_MODELS, alternation, frame_confidence,
                                                  heart_score, periodicity, run_features,
                                                  run_vector, runs_of, spectral_consistency,
                                                  uses_confidence)
from heartsound.segmentation.result import Segmentation
from heartsound.vocab import S1, S2

FR = 50.0


def _sounds(onsets: list[int], dur: int = 5) -> list[tuple[int, int]]:
    return [(a, a + dur) for a in onsets]


def _envelope(onsets: list[int], n: int, amp: np.ndarray | None = None) -> np.ndarray:
    env = np.full(n, 0.1)
    for k, a in enumerate(onsets):
        env[a:a + 5] = 1.0 if amp is None else amp[k]
    return env


def _heart_onsets(n_cycles: int, cyc: int = 40, sys: int = 14) -> list[int]:
    return [o for c in range(n_cycles) for o in (10 + c * cyc, 10 + c * cyc + sys)]


def test_runs_of() -> None:
    assert runs_of(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert runs_of(np.zeros(3, bool)) == []


def test_periodicity_regular_vs_irregular() -> None:
    on = _heart_onsets(10)
    assert periodicity(_envelope(on, 420), _sounds(on), 0, len(on)) > 0.9
    # the same number of bursts at random times: the decoded "cycles" do not repeat
    rng = np.random.default_rng(0)
    rnd = sorted(rng.choice(np.arange(5, 400, 6), len(on), replace=False).tolist())
    assert periodicity(_envelope(rnd, 420), _sounds(on), 0, len(on)) < 0.5
    assert periodicity(_envelope(on, 420), _sounds(on), 0, 1) == 0.0  # one sound


def test_alternation_consistent_vs_random() -> None:
    lab = np.array([S1, S2] * 8)
    low = np.full(16, 0.9)
    assert alternation(lab, np.tile([2.0, 1.0], 8), low) > 5  # S1 always twice S2
    rng = np.random.default_rng(1)
    assert alternation(lab, rng.uniform(0.5, 1.5, 16), low) < 1
    assert alternation(lab[:3], np.ones(3), low[:3]) == 0.0  # fewer than two cycles


def _sound_ev(m: int, duration_ms: float = 30.0, spectra: np.ndarray | None = None
              ) -> dict:
    """Per-sound measurements of ``m`` sounds (:func:`presence.measure` keys) besides
    the envelope ones."""
    return {"low_share": np.full(m, 0.9), "sub50_share": np.full(m, 0.4),
            "duration_ms": np.full(m, duration_ms),
            "log_spectrum": (np.tile(-np.arange(48.0) / 8, (m, 1)) if spectra is None
                             else spectra)}


def test_run_features_interval_ratio_and_cap() -> None:
    on = _heart_onsets(6, cyc=40, sys=14)
    ev = {"sounds": _sounds(on), "labels": np.array([S1, S2] * 6),
          "env": _envelope(on, 260), "peak": np.tile([2.0, 1.0], 6),
          **_sound_ev(12), "flatness": np.full(12, 0.3),
          "prominence": np.full(12, 5.0)}
    f = run_features(ev, 0, 12)
    assert f["interval_ratio"] == pytest.approx(14 / 26)
    assert f["n_sounds"] == 12 and f["low_share"] == pytest.approx(0.9)
    assert f["duration_ms"] == 30.0 and f["consistency"] == pytest.approx(1.0)
    long = run_vector({**f, "n_sounds": 200.0})
    assert long[0] == run_vector({**f, "n_sounds": N_SOUNDS_CAP})[0]  # capped
    assert run_vector({**f, "n_sounds": 4.0})[0] < long[0]
    # a recording with only 5 decoded sounds (2 s): a run over all of them gets full credit
    short = {**f, "n_sounds": 5.0, "n_sounds_recording": 5.0}
    assert run_vector(short)[0] == long[0]
    assert run_vector({**short, "n_sounds": 4.0})[0] < long[0]


def test_heart_score_orders_heart_and_artifact_runs() -> None:
    heart = {"n_sounds": 40.0, "n_sounds_recording": 40.0, "periodicity": 0.8, "alternation": 2.0,
             "interval_ratio": 0.6, "low_share": 0.95, "prominence": 6.0,
             "flatness": 0.05, "duration_ms": 25.0, "consistency": 0.85}
    # a short run of sustained bursts (notes of a bass line: 120 ms above half their
    # peak), each with another spectrum, and a long "diastole"
    tonal = {**heart, "n_sounds": 4.0, "periodicity": 0.2, "interval_ratio": 0.3,
             "prominence": 20.0, "duration_ms": 120.0, "consistency": 0.2}
    th = dict(THRESHOLDS)
    for m in RUN_MODELS:
        assert heart_score(heart, m) > th["min_heart_score"] > heart_score(tonal, m)
    assert run_passes(heart, th) and not run_passes(tonal, th)
    assert not run_passes({**heart, "low_share": 0.1}, th)  # high-pitched: never
    assert run_passes(tonal, {**th, "min_heart_score": 0.0})  # 0: the score is off


def test_sound_spectra_flatness() -> None:
    t = np.arange(4000) / 1000.0
    rng = np.random.default_rng(2)
    tone = np.sin(2 * np.pi * 80 * t)
    _, flat_tone = sound_spectra(tone, [(99, 102)], FR)
    _, flat_noise = sound_spectra(rng.standard_normal(4000), [(99, 102)], FR)
    assert flat_tone[0] < 0.05 < 0.3 < flat_noise[0]
    assert sound_spectra(np.zeros(4000), [(99, 102)], FR)[1][0] == 1.0


def _run(sys: int, duration_ms: float, n_cycles: int = 12, cyc: int = 40,
         spectra: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Decoded states and :func:`measure`-like evidence of one loud run of S1/S2 pairs."""
    on = _heart_onsets(n_cycles, cyc=cyc, sys=sys)
    n = 10 + n_cycles * cyc + 10
    states = np.full(n, 4, np.int8)
    for k, a in enumerate(on):
        states[a:a + 5] = S1 if k % 2 == 0 else S2
        states[a + 5:(on[k + 1] if k + 1 < len(on) else n)] = 2 if k % 2 == 0 else 4
    m = len(on)
    return states, {"sounds": _sounds(on), "labels": np.array([S1, S2] * n_cycles),
                    "env": _envelope(on, n, np.tile([2.0, 1.0], n_cycles)),
                    "peak": np.tile([2.0, 1.0], n_cycles),
                    **_sound_ev(m, duration_ms, spectra),
                    "flatness": np.full(m, 0.02), "prominence": np.full(m, 8.0)}


def test_decide_keeps_heart_runs_drops_tonal_runs() -> None:
    th = dict(THRESHOLDS)
    states, ev = _run(sys=14, duration_ms=25.0)  # systole 0.28 s, diastole 0.52 s
    gated, info, runs = decide(states, ev, th)
    assert len(runs) == 1 and runs[0]["kept"] and info["n_sounds_kept"] == 24
    # sustained bursts (150 ms above half their peak) with a short "systole", each with
    # its own spectrum: notes of a tune
    spectra = np.random.default_rng(5).normal(-3.0, 2.0, (24, 48))
    states, ev = _run(sys=8, duration_ms=150.0, spectra=spectra)
    gated, info, runs = decide(states, ev, th)
    assert not runs[0]["kept"] and not gated.any() and info["present_share"] == 0.0
    # score off: the tonal run is kept, and only its low share is measured
    gated, info, runs = decide(states, ev, {**th, "min_heart_score": 0.0})
    assert runs[0]["kept"] and "periodicity" not in runs[0] and gated.any()


def test_heart_score_inputs_known() -> None:
    for m in RUN_MODELS.values():  # every model reads inputs the registry can build
        assert set(m["features"]) <= set(RUN_INPUTS)
        assert len(m["coef"]) == len(m["mean"]) == len(m["features"])
    assert RUN_MODELS["neural"]["features"] == RUN_FEATURES
    f = {"n_sounds": 8.0, "periodicity": 0.5, "alternation": 1.0, "interval_ratio": 0.6,
         "low_share": 0.9, "flatness": 0.1, "duration_ms": 40.0, "consistency": 0.7}
    v = run_vector(f, ("log_duration", "consistency", "interval_ratio"))
    assert v.tolist() == pytest.approx([np.log(40.0), 0.7, 0.6])


def test_sound_shape_duration() -> None:
    """A Gaussian envelope of known width: the time above half its peak is its FWHM."""
    t = np.arange(4000.0)
    hilb = np.zeros(4000)
    for c, fwhm in ((1000, 30.0), (2500, 120.0)):
        sd = fwhm / (2 * np.sqrt(2 * np.log(2)))
        hilb += np.exp(-0.5 * ((t - c) / sd) ** 2)
    d = sound_shape(hilb, [(48, 52), (123, 127)], FR)  # centred on 1000 and 2500 ms
    assert d["duration_ms"] == pytest.approx([30.0, 120.0], abs=4.0)
    assert sound_shape(np.zeros(4000), [(48, 52)], FR)["duration_ms"][0] == 0.0
    assert sound_shape(hilb, [], FR)["duration_ms"].shape == (0,)


def test_spectral_consistency_repeating_vs_changing() -> None:
    """The same sound every beat: spectra alike; a new pitch every beat: unlike."""
    t = np.arange(64) / 1000.0
    burst = np.sin(2 * np.pi * 45 * t) * np.exp(-t / 0.02)
    x = np.zeros(8000)
    rng = np.random.default_rng(4)
    x_var = np.zeros(8000)
    for k in range(8):
        x[500 + 900 * k: 564 + 900 * k] += burst
        x_var[500 + 900 * k: 564 + 900 * k] += (np.sin(2 * np.pi * rng.uniform(40, 380) * t)
                                                * np.exp(-t / 0.02))
    x += 1e-4 * rng.standard_normal(8000)
    x_var += 1e-4 * rng.standard_normal(8000)
    sounds = [(25 + 45 * k, 28 + 45 * k) for k in range(8)]  # centred on each burst
    same = spectral_consistency(spectral_evidence(x, sounds, FR)["log_spectrum"])
    other = spectral_consistency(spectral_evidence(x_var, sounds, FR)["log_spectrum"])
    assert same > 0.95 and other < 0.6
    assert spectral_consistency(np.zeros((2, 48))) == 0.0  # fewer than 3 sounds
    assert spectral_consistency(np.zeros((4, 48))) == 0.0  # no energy: no evidence


def test_frame_confidence_known_values() -> None:
    """Sharp posteriors on the decoded state: posterior 1, entropy 0, no disagreement;
    uniform ones: posterior 1/4, entropy 1; a confident other state: disagreement."""
    states = np.array([1, 2, 3, 4, 1, 2], dtype=np.int8)
    sharp = np.eye(4)[states - 1]
    c = frame_confidence(sharp, states)
    assert c["post_decoded"].tolist() == pytest.approx([1.0] * 6)
    assert c["post_entropy"].tolist() == pytest.approx([0.0] * 6, abs=1e-9)
    assert not c["post_disagree"].any()
    flat = frame_confidence(np.full((6, 4), 0.3), states)  # rows renormalised
    assert flat["post_decoded"].tolist() == pytest.approx([0.25] * 6)
    assert flat["post_entropy"].tolist() == pytest.approx([1.0] * 6)
    wrong = frame_confidence(np.roll(sharp, 1, axis=1), states)
    assert wrong["post_decoded"].tolist() == pytest.approx([0.0] * 6)
    assert wrong["post_disagree"].tolist() == [1.0] * 6
    assert frame_confidence(sharp, np.zeros(6, np.int8))["post_disagree"].all()


def test_run_features_average_confidence_over_the_run() -> None:
    onsets = _heart_onsets(3)
    sounds = _sounds(onsets)
    n = 140
    states = np.full(n, 4, dtype=np.int8)
    for k, (a, b) in enumerate(sounds):
        states[a:b] = S1 if k % 2 == 0 else S2
    post = np.eye(4)[states - 1]
    post[: sounds[2][0]] = 0.25  # first cycle uncertain, the rest sharp
    ev = {"sounds": sounds, "labels": states[[a for a, _ in sounds]],
          "env": _envelope(onsets, n), "peak": np.ones(6), "low_share": np.full(6, 0.9),
          "prominence": np.full(6, 5.0), "flatness": np.full(6, 0.1),
          "sub50_share": np.full(6, 0.2), "duration_ms": np.full(6, 25.0),
          "log_spectrum": np.ones((6, 8)), **frame_confidence(post, states)}
    late = run_features(ev, 2, 6)
    assert late["post_decoded"] == pytest.approx(1.0)
    assert late["post_entropy"] == pytest.approx(0.0, abs=1e-9)
    whole = run_features(ev, 0, 6)
    span = sounds[5][1] - sounds[0][0]
    uncertain = sounds[2][0] - sounds[0][0]
    assert whole["post_decoded"] == pytest.approx(1 - 0.75 * uncertain / span)
    bare = {k: v for k, v in ev.items() if not k.startswith("post_")}
    assert "post_decoded" not in run_features(bare, 0, 6)  # no posteriors: not measured


def test_heart_score_without_posteriors_is_neutral() -> None:
    """An input that was not measured (NaN) takes the model's mean: the same score as a
    run whose measured value is that mean."""
    f = {"n_sounds": 8.0, "periodicity": 0.5, "alternation": 1.0, "interval_ratio": 0.6,
         "low_share": 0.9, "flatness": 0.1, "duration_ms": 40.0, "consistency": 0.7}
    for method, m in RUN_MODELS.items():
        conf = [k for k in m["features"] if k.startswith("post_")]
        typical = {k: float(m["mean"][list(m["features"]).index(k)]) for k in conf}
        assert heart_score(f, method) == pytest.approx(heart_score({**f, **typical}, method))
        assert 0.0 < heart_score(f, method) < 1.0


def test_aligned_posteriors_follow_the_state_shift() -> None:
    post = np.arange(20, dtype=float).reshape(5, 4)
    seg = Segmentation(states=np.ones(5, np.int8), frame_rate=FR, method="neural",
                       heart_rate_bpm=60.0, systolic_interval_s=0.3, posteriors=post,
                       info={"shift_frames": 1})
    assert aligned_posteriors(seg)[:, 0].tolist() == [4.0, 8.0, 12.0, 16.0, 16.0]
    seg.info = {}
    assert aligned_posteriors(seg) is post
    seg.posteriors = None
    assert aligned_posteriors(seg) is None


def test_uses_confidence_follows_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The confidence is measured only for a model that reads it (none does now:
    docs/results/no_beats_s11.md)."""
    assert not any(uses_confidence(m) for m in RUN_MODELS)
    m = dict(RUN_MODELS["neural"])
    m["features"] = (*m["features"][:-1], "post_entropy")
    monkeypatch.setitem(RUN_MODELS, "neural", m)
    assert uses_confidence("neural") and uses_confidence("unknown-method")
    assert not uses_confidence("springer2016")
