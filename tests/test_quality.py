"""Signal-quality assessment: synthetic signals with known problems and a few real files."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound import quality
from heartsound.errors import NonFiniteAudioError, ParameterError, SampleRateError

SR = 2000


def synthetic_pcg(rng: np.random.Generator, *, duration_s: float = 10.0, bpm: float = 72.0,
                  sr: int = SR, noise: float = 0.01) -> np.ndarray:
    """Periodic S1 (50 Hz, 100 ms) and S2 (80 Hz, 80 ms) Gaussian-windowed bursts, S2
    0.3 s after S1, plus white noise of standard deviation ``noise``."""
    t = np.arange(int(duration_s * sr)) / sr
    y = noise * rng.standard_normal(t.size)
    period = 60.0 / bpm
    for c in np.arange(0.2, duration_s - 0.5, period):
        for centre, f0, width, amp in ((c, 50.0, 0.025, 0.5), (c + 0.3, 80.0, 0.02, 0.35)):
            w = np.exp(-0.5 * ((t - centre) / width) ** 2)
            y += amp * w * np.sin(2 * np.pi * f0 * (t - centre))
    return y


def test_clean_synthetic_pcg_is_usable(rng):
    q = quality.assess(synthetic_pcg(rng), SR)
    assert q.usable, q.reasons
    assert q.reasons == [] and q.flags == []
    assert q.score > 0.5
    m = q.measures
    # the envelope repeats every cardiac cycle: 60 / 72 = 0.833 s (50 Hz envelope grid)
    assert m["period_s"] == pytest.approx(60 / 72, abs=0.03)
    assert m["periodicity"] > 0.8
    assert m["band_share"] > 0.9  # bursts at 50-80 Hz, weak white noise
    assert m["full_scale_share"] == 0.0


@pytest.mark.parametrize("sr", [2000, 4000, 44100])
def test_clean_synthetic_pcg_is_usable_at_any_rate(rng, sr):
    q = quality.assess(synthetic_pcg(rng, sr=sr, duration_s=6.0), sr)
    assert q.usable, q.reasons


def test_white_noise_is_unusable(rng):
    q = quality.assess(0.1 * rng.standard_normal(20 * SR), SR)
    assert not q.usable
    assert "aperiodic" in q.flags
    assert any(r.startswith("irregular envelope: autocorrelation peak") for r in q.reasons)
    # white noise to 1000 Hz: 25-400 Hz holds about 375 / 975 of the 25-1000 Hz power
    assert q.measures["band_share"] == pytest.approx(375 / 975, abs=0.05)
    assert "noisy" in q.flags
    assert q.score < 0.5


def test_clipped_square_wave(rng):
    # 1.2 Hz square wave at full scale: every sample is at +-1
    t = np.arange(10 * SR) / SR
    y = np.sign(np.sin(2 * np.pi * 1.2 * t))
    y[y == 0] = 1.0
    q = quality.assess(y, SR)
    assert not q.usable
    assert "clipped" in q.flags
    assert "clipped: 100.0% of samples at full scale" in q.reasons


def test_clipped_pcg_reports_share(rng):
    y = 3.0 * synthetic_pcg(rng)            # bursts up to about +-1.5 -> clipped at +-1
    y = np.clip(y, -1.0, 1.0)
    share = np.mean(np.abs(y) >= 0.999)
    q = quality.assess(y, SR)
    assert "clipped" in q.flags
    assert f"clipped: {100 * share:.1f}% of samples at full scale" in q.reasons


def test_clipping_oracle():
    y = np.array([0.0, 1.0, 1.0, 1.0, 0.2, -1.0, 0.3, -0.9995, -1.0, 0.0])
    c = quality.clipping(y)
    # |y| >= 0.999: indices 1, 2, 3, 5, 7, 8 -> 6 of 10; runs [1-3] (3), [5] (1), [7-8] (2)
    assert c["n_full_scale"] == 6
    assert c["full_scale_share"] == pytest.approx(0.6)
    assert c["n_full_scale_runs"] == 2       # runs of >= 2 samples
    assert c["longest_full_scale_run"] == 3
    assert c["peak"] == 1.0
    # flat tops (>= 3 equal samples near the peak): only 1, 1, 1 -> 3 of 10
    assert c["plateau_share"] == pytest.approx(0.3)


def test_flat_topped_clipping_below_full_scale(rng):
    # clipped at +-1 then scaled down by 0.5: no sample at full scale, but flat tops
    y = 0.5 * np.clip(3.0 * synthetic_pcg(rng), -1.0, 1.0)
    q = quality.assess(y, SR)
    assert q.measures["full_scale_share"] == 0.0
    assert q.measures["plateau_share"] > 0.01
    assert "clipped" in q.flags
    assert any("flat-topped" in r for r in q.reasons)


def test_too_short(rng):
    q = quality.assess(synthetic_pcg(rng, duration_s=1.7), SR)
    assert "too_short" in q.flags
    assert q.reasons[0] == "too short: 1.7 s (at least 2 s needed)"


def test_silent_and_mostly_silent(rng):
    q = quality.assess(np.zeros(10 * SR), SR)
    assert not q.usable and q.flags == ["silent"] and q.score == 0.0
    y = synthetic_pcg(rng, duration_s=20.0)
    y[: 14 * SR] = 0.0                      # 70% digital silence
    q = quality.assess(y, SR)
    assert "silent" in q.flags
    assert q.measures["quiet_share"] == pytest.approx(0.7, abs=0.02)


def test_spiky(rng):
    # white noise with a loud click every 1.5 s: windows 0, 3, 6, ..., 18 of the twenty
    # 0.5 s windows hold one -> 7 / 20 spike windows
    y = 0.01 * rng.standard_normal(10 * SR)
    y[np.arange(0, 10 * SR, 3 * SR // 2) + 100] = 0.9
    q = quality.assess(y, SR)
    assert q.measures["spike_share"] == pytest.approx(7 / 20)
    assert "spiky" in q.flags


def test_to_dict_is_strict_json(rng):
    import json

    # 2.5 s of noise: few or no autocorrelation peaks; whatever is NaN must become null
    q = quality.assess(0.1 * rng.standard_normal(int(2.5 * SR)), SR)
    q.measures["period_s"] = float("nan")
    d = json.loads(json.dumps(q.to_dict(), allow_nan=False))
    assert d["measures"]["period_s"] is None
    assert d["usable"] is False and d["flags"] == q.flags


def test_bad_input():
    with pytest.raises(NonFiniteAudioError):
        quality.assess(np.array([0.1, np.nan] * 2000), SR)
    with pytest.raises(SampleRateError):
        quality.assess(np.ones(100), 100)
    with pytest.raises(ParameterError, match="min_periodicity"):
        quality.assess(np.ones(4000), SR, thresholds={"periodicty": 0.3})


def test_threshold_override(rng):
    y = synthetic_pcg(rng)
    assert not quality.assess(y, SR, thresholds={"min_periodicity": 1.01}).usable


# --------------------------------------------------------------------------- real files


def _load(path):
    from heartsound.io import load

    rec = load(path)
    return quality.assess(rec.y, rec.sr)


def test_real_pascal_artifact_flagged_and_normal_passes(pascal_root):
    art = _load(pascal_root / "setA" / "artifact__201012172012.flac")
    assert not art.usable
    norm = _load(pascal_root / "setA" / "normal__201102081321.flac")
    assert norm.usable, norm.reasons


def test_real_circor_recording_passes(circor_root):
    q = _load(circor_root / "recordings" / "9979_AV.flac")
    assert q.usable, q.reasons
    # a child's heart: 9979 is 103 cm tall; the period found is a cardiac cycle
    assert 0.3 <= q.measures["period_s"] <= 1.0


@pytest.mark.corpus
def test_evaluate_json_shape(pascal_root, tmp_path):
    from heartsound.evaluation.quality import evaluate

    out = evaluate(pascal_root.parent, limit=3, measures_out=tmp_path / "m.jsonl")
    assert out["pascal2011"]["all"]["n"] == 3
    assert 0.0 <= out["pascal2011"]["all"]["share_flagged"] <= 1.0
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(lines) == 3 * sum(1 for k in ("pascal2011", "physionet2016", "circor2022")
                                 if k in out)
    assert out["thresholds"] == quality.THRESHOLDS


@pytest.mark.corpus
def test_cli_quality_evaluate_and_files(pascal_root, capsys):
    import json

    from heartsound.cli import main

    files = sorted((pascal_root / "setA").glob("artifact__*.flac"))[:1]
    assert main(["quality", str(files[0])]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["file"].endswith(files[0].name) and isinstance(verdict["usable"], bool)
    assert main(["quality", "--evaluate", str(pascal_root.parent), "--limit", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["pascal2011"]["all"]["n"] == 2
    assert main(["quality"]) == 2  # nothing to assess: one-line error
    assert "--evaluate ROOT" in capsys.readouterr().err


@pytest.mark.parametrize("n, nperseg", [(20000, 1024), (5000, 1024), (1500, 1024),
                                        (777, 777), (3001, 255)])
def test_welch_matches_scipy(rng, n, nperseg):
    from scipy.signal import welch

    x = rng.standard_normal(n) + 0.3
    f0, p0 = welch(x, fs=SR, nperseg=nperseg)
    f1, p1 = quality._welch(x, SR, nperseg)
    np.testing.assert_allclose(f1, f0)
    np.testing.assert_allclose(p1, p0, rtol=1e-10, atol=1e-15)


def test_measure_with_shared_frontend_is_identical(rng):
    from heartsound.errors import ParameterError
    from heartsound.frontend import Frontend

    y = synthetic_pcg(rng, sr=4000)
    fe = Frontend.from_signal(y, 4000)
    fe.homomorphic()  # computed first, as the segmenter would
    alone = quality.measure(y, 4000)
    assert quality.measure(y, 4000, frontend=fe) == alone
    assert quality.assess(y.copy(), 4000, frontend=fe).to_dict() == \
        quality.assess(y, 4000).to_dict()  # a copy of the samples: still shared
    with pytest.raises(ParameterError, match="frontend describes"):
        quality.measure(y[:-100], 4000, frontend=fe)  # another recording: refused


def test_no_reason_claims_heart_sounds_absent(rng):
    """The SQIs describe the signal; whether heart sounds are present is the
    segmenter's presence check. A reason such as "no periodic heart sounds found" next to
    a heart rate and cycles read as a contradiction (14241_AV: 111 bpm, correct)."""
    t = np.arange(20 * SR) / SR
    for y in (0.1 * rng.standard_normal(20 * SR), 0.1 * np.sin(2 * np.pi * 50 * t)):
        q = quality.assess(y, SR)
        assert q.reasons and not any("heart sounds" in r for r in q.reasons), q.reasons
