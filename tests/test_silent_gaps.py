"""Stretches without signal (digital silence: a dropout, a paused recording) must not
change what the tool says about the heart (issue 15; docs/results/silent_gaps_s12.md).

Every stage leaves out the stretches of :func:`heartsound.quality_silence.no_signal_spans`:
the classifiers' normalisation and crops, their attention and occlusion evidence, the
presence check's share and the typicality profile. The known answers: a recording with
zeros inserted gives the labels of the recording without them, scores within the models'
own jitter, zero attention over the zeros, and the presence check's share of the signal.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from heartsound.classification import classify, classify_all
from heartsound.classification.attention import attention_by_phase
from heartsound.classification.crops import scatter_rows, signal_rows
from heartsound.classification.evidence import occlusion_by_phase
from heartsound.classification.frontend import FrontendConfig, frame_times, log_mel
from heartsound.classification.ood import profile
from heartsound.example import synthetic_pcg
from heartsound.features import neural_features, springer_features, zscore
from heartsound.io import load
from heartsound.pipeline import analyze
from heartsound.preprocess import schmidt_spike_removal
from heartsound.quality import assess
from heartsound.quality_silence import no_signal_spans, signal_mask
from heartsound.segmentation import segment
from heartsound.segmentation.run_evidence import present_share

SR = 2000


def _with_gaps(y: np.ndarray, sr: int, gaps_s: tuple[float, ...] = (12.0, 10.0)
               ) -> np.ndarray:
    """``y`` with digital zeros of ``gaps_s`` seconds inserted at 1/3, 2/3, ... of it."""
    cuts = [len(y) * (i + 1) // (len(gaps_s) + 1) for i in range(len(gaps_s))]
    parts, last = [], 0
    for c, g in zip(cuts, gaps_s):
        parts += [y[last:c], np.zeros(int(g * sr), y.dtype)]
        last = c
    return np.concatenate(parts + [y[last:]])


@pytest.fixture(scope="module")
def pcg() -> np.ndarray:
    y, _ = synthetic_pcg(seconds=20.0, sr=SR, murmur=True)
    return y


def test_signal_mask_and_rows_known_answer() -> None:
    assert signal_mask([0.1, 1.0, 1.5, 2.0, 3.0], [(1.0, 2.0)]).tolist() == [
        True, False, False, True, True]
    cfg = FrontendConfig()
    t = frame_times(100, cfg)
    rows = signal_rows([(1.0, 2.0)], 100, cfg)
    assert np.array_equal(rows, np.flatnonzero((t < 1.0) | (t >= 2.0)))
    assert signal_rows([], 100, cfg) is None  # no stretch: every frame, as before
    assert signal_rows([(0.0, 99.0)], 100, cfg) is None  # nothing left: every frame
    out = scatter_rows(np.ones((3, 2), np.float32), np.array([0, 2, 5]), 6)
    assert out.dtype == np.float32 and out[:, 0].tolist() == [1, 0, 1, 0, 0, 1]


def test_present_share_counts_signal_frames_only() -> None:
    gated = np.r_[np.ones(40), np.zeros(60)]  # 40 frames in runs, then 60 silent
    assert present_share(gated) == pytest.approx(0.4)
    assert present_share(gated, np.r_[np.ones(50, bool), np.zeros(50, bool)]) == \
        pytest.approx(0.8)
    assert present_share(gated, np.zeros(100, bool)) == pytest.approx(0.4)  # no signal
    assert present_share(np.zeros(0)) == 0.0


def test_normalisation_statistics_leave_the_gaps_out(pcg: np.ndarray) -> None:
    yg = _with_gaps(pcg, SR)
    spans = no_signal_spans(yg, SR)
    assert len(spans) == 2 and sum(b - a for a, b in spans) == pytest.approx(22.0, abs=0.1)
    cfg = FrontendConfig(normalize="recording")
    m = log_mel(yg, SR, cfg, no_signal=spans)
    keep = signal_mask(frame_times(len(m), cfg), spans)
    assert abs(float(m[keep].mean())) < 1e-3 and float(m[keep].std()) == pytest.approx(1, abs=1e-3)
    # the signal's frames are normalised as without the gaps: same mean level per band
    m0 = log_mel(pcg, SR, FrontendConfig(normalize="recording_bins"))
    mg = log_mel(yg, SR, FrontendConfig(normalize="recording_bins"), no_signal=spans)
    assert np.abs(mg[keep].mean(axis=0) - m0.mean(axis=0)).max() < 0.05
    # without stretches the output is what it always was
    assert np.array_equal(log_mel(pcg, SR, cfg, no_signal=[]), log_mel(pcg, SR, cfg))


def test_classifiers_ignore_the_gaps(pcg: np.ndarray) -> None:
    """The labels of the recording without the gaps, scores within 0.1, the attention
    over the gaps 0, and about as many crops as without them."""
    yg = _with_gaps(pcg, SR)
    a, b = classify_all(pcg, SR), classify_all(yg, SR)
    spans = no_signal_spans(yg, SR)
    for t in a:
        assert b[t].label == a[t].label, t
        for k, p in a[t].probabilities.items():
            assert b[t].probabilities[k] == pytest.approx(p, abs=0.1), (t, k)
        att = b[t].attention.reshape(len(b[t].attention), -1).sum(axis=1)
        gap = ~signal_mask(b[t].attention_times_s, spans)
        assert gap.sum() > 300 and float(att[gap].sum()) == 0.0
        assert float(att.sum()) == pytest.approx(1.0, abs=1e-5)
        assert abs(len(b[t].crop_probabilities) - len(a[t].crop_probabilities)) <= 1
        assert b[t].signal_frames is not None and a[t].signal_frames is None


def test_one_task_alone_reads_the_same_frames(pcg: np.ndarray) -> None:
    yg = _with_gaps(pcg, SR)
    alone = classify(yg, SR, task="abnormal")
    together = classify_all(yg, SR)["abnormal"]
    assert alone.probabilities == pytest.approx(together.probabilities, abs=1e-6)


def test_attention_time_shares_leave_the_gaps_out() -> None:
    """2 s: 0.5 s S1, 0.5 s systole, then 1 s without signal (state 0); all attention on
    S1. Counting the gap's time, S1 holds 25% of the time (ratio 4); leaving it out, 50%
    (ratio 2)."""
    times = (np.arange(20) + 0.5) * 0.1  # attention frames every 0.1 s
    seg = SimpleNamespace(states=np.repeat([1, 2, 0], [25, 25, 50]), frame_rate=50.0)
    att = np.r_[np.full(5, 0.2), np.zeros(15)]
    every = attention_by_phase(att, times, seg)
    read = attention_by_phase(att, times, seg, signal=np.arange(10))
    assert every["S1"] == read["S1"] == pytest.approx(1.0)
    assert every["S1_ratio"] == pytest.approx(4.0) and read["S1_ratio"] == pytest.approx(2.0)


def test_occlusion_rows_are_the_read_frames() -> None:
    cfg = FrontendConfig(n_mels=4)
    n = 200
    states = np.repeat([1, 2, 3, 4], 50 * 2)  # 8 s at 50 Hz: 2 s per phase
    seg = SimpleNamespace(states=states, frame_rate=50.0)
    rows = np.flatnonzero(frame_times(n, cfg) < 4.0)  # S1 and systole only
    feat = np.zeros((len(rows), 4), np.float32)
    ev = occlusion_by_phase(feat, seg, cfg, lambda f: 0.5, "P", rows=rows, n_frames=n)
    assert ev["S1"]["time_share"] + ev["systole"]["time_share"] == pytest.approx(1.0,
                                                                               abs=0.02)
    assert ev["S2"]["time_share"] < 0.02 and ev["diastole"]["time_share"] == 0.0


def test_zscore_over_rows_known_answer() -> None:
    x = np.r_[np.arange(4.0), np.zeros(4)][:, None]  # 0 1 2 3, then four silent zeros
    z = zscore(x, rows=np.r_[np.ones(4, bool), np.zeros(4, bool)])
    sd = np.std([0, 1, 2, 3])
    assert np.allclose(z[:4, 0], (np.arange(4) - 1.5) / sd)
    assert np.allclose(z[4:, 0], -1.5 / sd)
    assert np.array_equal(zscore(x, rows=None), zscore(x))


def test_segmenter_features_and_heart_rate_ignore_the_gaps(pcg: np.ndarray) -> None:
    """The segmenter's per-recording z-scores are taken over the frames with signal
    (zero mean, unit variance there), so its heart rate is that of the recording."""
    yg = _with_gaps(pcg, SR)
    spans = no_signal_spans(yg, SR)
    for x in (springer_features(yg, SR)[0], neural_features(yg, SR)[0]):
        keep = signal_mask(np.arange(len(x)) / 50.0, spans)
        assert np.abs(x[keep].mean(axis=0)).max() < 1e-5
        assert np.abs(x[keep].std(axis=0) - 1).max() < 1e-3
    s0, sg = segment(pcg, SR), segment(yg, SR)
    assert sg.median_heart_rate_bpm == pytest.approx(s0.median_heart_rate_bpm, rel=0.02)


def test_spike_removal_median_leaves_the_gaps_out() -> None:
    """10 s of a 0.1 sine with one spike of 5, then 20 s of zeros: the median window
    maximum is 0 over all windows (nothing would be removed); over the windows with
    signal it is 0.1, and the spike goes."""
    y = np.r_[np.sin(np.arange(10_000) / 10.0) * 0.1, np.zeros(20_000)]
    y[2500] = 5.0
    spans = no_signal_spans(y, 1000)
    assert spans and spans[0][0] == pytest.approx(10.0, abs=0.05)
    assert np.abs(schmidt_spike_removal(y, 1000)).max() == 5.0
    assert np.abs(schmidt_spike_removal(y, 1000, no_signal=spans)).max() < 0.2


def test_quality_measures_leave_the_gaps_out(pcg: np.ndarray) -> None:
    """Periodicity and spikes are measured over the signal; only the silent share counts
    the gaps (14 s of 34 s: under the 50% limit, so no flag at all)."""
    q0, qg = assess(pcg, SR), assess(_with_gaps(pcg, SR, (8.0, 6.0)), SR)
    assert qg.flags == q0.flags and qg.usable == q0.usable
    assert qg.measures["spike_share"] == pytest.approx(q0.measures["spike_share"], abs=0.05)
    assert qg.measures["periodicity"] == pytest.approx(q0.measures["periodicity"], abs=0.1)
    assert qg.measures["quiet_share"] == pytest.approx(14 / 34, abs=0.03)


def test_typicality_profile_leaves_the_gaps_out(pcg: np.ndarray) -> None:
    yg = _with_gaps(pcg, SR)
    p0, pg = profile(pcg, SR), profile(yg, SR)
    assert np.abs(pg - p0).max() < 0.1


def test_analyze_note_says_the_gaps_were_left_out(pcg: np.ndarray) -> None:
    a, b = analyze(pcg, sr=SR, evidence=False), analyze(_with_gaps(pcg, SR), sr=SR,
                                                         evidence=False)
    note = b.to_dict()["quality"]["notes"]["no_signal"]
    assert "left them out" in note and "no_signal" not in a.to_dict()["quality"]["notes"]
    pa, pb = a.segmentation.presence, b.segmentation.presence
    assert pb["heart_sounds"] and pb["present_share"] == pytest.approx(
        pa["present_share"], abs=0.05)
    assert {t: r.label for t, r in b.classification.items()} == \
        {t: r.label for t, r in a.classification.items()}


@pytest.mark.slow
def test_physionet_recording_with_inserted_zeros(physionet_root) -> None:
    """a0007 (PhysioNet training-a, 36 s) with 12 s and 10 s of zeros inserted: before,
    the presence check rejected it (45% of the recording held heart sounds, 50%
    needed); now its labels are those of the recording as it is, every score within
    0.1 of it."""
    rec = load(physionet_root / "training-a" / "a0007.flac")
    y = np.asarray(rec.y, np.float64)
    a = analyze(y, sr=rec.sr, evidence=False)
    b = analyze(_with_gaps(y, rec.sr), sr=rec.sr, evidence=False)
    assert b.segmentation.presence["heart_sounds"], b.segmentation.presence["reason"]
    assert b.quality.flags == a.quality.flags and b.quality.usable == a.quality.usable
    for t, r in a.classification.items():
        g = b.classification[t]
        assert g.label == r.label, t
        s0, s1 = r.result.decision.score, g.result.decision.score
        assert (s0 is None) == (s1 is None)
        assert s0 is None or s1 == pytest.approx(s0, abs=0.1), t
    assert b.heart_rate_bpm == pytest.approx(a.heart_rate_bpm, rel=0.05)


def test_presence_reason_says_which_time_the_share_is_of() -> None:
    from heartsound.segmentation.presence import THRESHOLDS, reason

    info = {"present_share": 0.2, "median_prominence": 1.0, "n_sounds_prominent": 3,
            "n_sounds_kept": 1}
    th = {**THRESHOLDS, "flat_rms": 0.0}
    assert "20% of the recording holds" in reason(info, 1.0, th)
    assert "20% of the time with signal holds" in reason(info, 1.0, th, gaps=True)
