"""The stateful pieces of the streaming front end and the lazily restarted decoder
(issue 17, speed): known answers against the offline routines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import filtfilt, lfilter, lfilter_zi, sosfiltfilt

from heartsound.example import synthetic_pcg
from heartsound.features import envelopes, to_frames
from heartsound.filters import butter_ba, butter_sos
from heartsound.io import resample
from heartsound.preprocess import BAND_HZ, SR, bandpass
from heartsound.segmentation.hsmm import duration_model
from heartsound.segmentation.viterbi import ExtendedViterbi
from heartsound.streaming import Stream
from heartsound.streaming.decoder import NEXT_STATE, FixedLagDecoder, _StartedViterbi
from heartsound.streaming.filtering import StreamResampler, Tail, ZeroPhaseStream
from heartsound.streaming.frontend import StreamFrontend, _decimation_matrix


@pytest.mark.parametrize("sr", [500, 2000, 4000, 11025, 16000, 22050, 44100, 48000])
def test_stream_resampler_final_samples_equal_offline(sr):
    """One stage (<= 11025 Hz) or two (16 kHz and up): the offline samples, bit for bit."""
    x = np.random.default_rng(sr).standard_normal(3 * sr)
    ref = resample(x, sr, SR)
    rs, got, n_in = StreamResampler(sr, SR), [], 0
    for step in (sr // 7, sr // 3, sr // 5, 2 * sr, sr):      # uneven windows
        n_in = min(x.size, n_in + step)
        a_in, _ = rs.window_start()
        new, prov = rs.advance(x[a_in:n_in], a_in, n_in, n_in == x.size)
        got.append(new)
        assert rs.n_final + prov.size == rs.n_out(n_in)
    out = np.concatenate(got)
    assert out.size == ref.size
    assert np.array_equal(out, ref)


def _bandpass_stream():
    b, a = butter_ba(1, 8.0, float(SR))
    return ZeroPhaseStream(lambda v, z: lfilter(b, a, v, zi=z), lfilter_zi(b, a), 6), (b, a)


def test_zero_phase_stream_whole_signal_is_filtfilt():
    """All samples final and no lookahead: the backward pass from the end is filtfilt's
    (odd padding at both ends), whatever the blocks the forward pass ran in."""
    x = np.random.default_rng(1).standard_normal(3000).cumsum()
    zp, (b, a) = _bandpass_stream()
    for i in range(0, x.size, 437):
        zp.push(x[i:i + 437])
    np.testing.assert_allclose(zp.output(0, x[:0]), filtfilt(b, a, x, padlen=6),
                               rtol=1e-10, atol=1e-10)


def test_zero_phase_stream_blocks_approach_offline_band_pass():
    """Block by block with 100 ms of lookahead, the band-pass output is within a small
    fraction of the offline zero-phase band-pass (sosfiltfilt); none of it is used twice."""
    y, _ = synthetic_pcg(seconds=10.0, sr=SR, murmur=False)
    ref = bandpass(y, SR, low_hz=BAND_HZ[0], high_hz=BAND_HZ[1])
    assert np.allclose(ref, sosfiltfilt(butter_sos(4, BAND_HZ, float(SR)), y, padlen=108))
    from heartsound.streaming.frontend import _bandpass_stream as make

    zp, out = make(BAND_HZ), []
    for b0 in range(0, y.size - 300, 200):
        zp.push(y[zp.n_final:b0 + 200])
        out.append(zp.output(b0, y[b0 + 200:b0 + 300])[:200])
        zp.trim(b0 + 200)
    got = np.concatenate(out)
    err = np.abs(got - ref[:got.size])
    assert err.max() < 0.01 * np.abs(ref).max()
    assert np.median(err) < 1e-3 * np.abs(ref).max()


def test_tail_addresses_absolute_samples():
    t = Tail()
    t.append(np.arange(10.0))
    t.trim(4)
    t.append(np.arange(10.0, 15.0))
    assert (t.start, t.end) == (4, 15)
    np.testing.assert_array_equal(t.get(6, 12), np.arange(6.0, 12.0))


def test_frontend_features_follow_offline_envelopes():
    """The unnormalised streamed envelopes (homomorphic, Hilbert, PSD) against the offline
    ones of the whole (spike-free) recording: correlation > 0.99 per column."""
    sr = 4000
    y, _ = synthetic_pcg(seconds=12.0, sr=sr, murmur=False)
    fe = StreamFrontend(sr, "springer", hop_frames=20)
    got = []
    fe._normalise = lambda new, final: got.append(new) or new       # keep the raw frames
    for i in range(0, y.size, 320):
        fe.push(y[i:i + 320])
    fe.push(np.zeros(0), final=True)
    x = bandpass(resample(y, sr, SR), SR, low_hz=BAND_HZ[0], high_hz=BAND_HZ[1])
    env = envelopes(x, SR)
    ref = np.column_stack([to_frames(env[k], SR) for k in ("homomorphic", "hilbert", "psd")])
    out = np.concatenate(got)
    assert out.shape == ref.shape
    for c in range(3):
        assert np.corrcoef(out[25:-25, c], ref[25:-25, c])[0, 1] > 0.99, c


def _restart_every_commit(e, model, lag):
    """The reference fixed-lag decoder: the forward pass restarted at every commit."""
    out, start, state = [], 0, None
    v = ExtendedViterbi(model)
    v.push(e[:10])
    n = 10
    while True:
        states, _ = v.finish()
        limit = states.size - lag
        change = np.flatnonzero(np.diff(states)) + 1
        seg = [(a, b) for a, b in zip([0] + change.tolist(), change.tolist() + [states.size])]
        hit = next(((int(states[a]), a, b) for a, b in seg if states[a] in (1, 3) and b <= limit
                    and all(b2 <= limit for _, b2 in seg[:seg.index((a, b)) + 1])), None)
        if hit is None:
            if n >= e.shape[0]:
                return out
            v.push(e[n:n + 10])
            n += 10
            continue
        st, a, b = hit
        out.append((st, start + a, start + b))
        start, state = start + b, NEXT_STATE[st]
        v = _StartedViterbi(model, state)
        v.push(e[start:n])


@pytest.mark.parametrize("n, r0, r1", [(1060, 10, 50), (759, 10, 35), (300, 0, 15), (61, 1, 3)])
def test_decimation_matrix_is_to_frames_of_the_identity(n, r0, r1):
    # built from probes, without the identity: the very same numbers
    want = to_frames(np.eye(n), SR, 50.0)[r0:r1]
    got = _decimation_matrix(n, r0, r1)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("lag", [5, 15])
def test_lazy_restarts_emit_what_restarting_at_every_commit_emits(lag):
    """The best path through the last commit continues the committed one (semi-Markov),
    so restarting only when the best path leaves it changes no event (noisy emissions,
    so that it does leave it at times)."""
    rng = np.random.default_rng(6)
    model = duration_model(72.0, 0.32)
    truth = np.repeat(np.tile([0, 1, 2, 3], 40), [6, 12, 5, 20] * 40)   # 0.86 s cycles
    p = np.full((truth.size, 4), 0.1)
    p[np.arange(truth.size), truth] = 0.7
    p = np.clip(p + rng.uniform(0, 1.0, p.shape), 1e-6, None)
    e = np.log(p / p.sum(axis=1, keepdims=True))
    dec = FixedLagDecoder(lag)
    dec.set_model(model)
    got = [s for i in range(0, e.shape[0], 10) for s in dec.push(e[i:i + 10])]
    ref = _restart_every_commit(e, model, lag)
    assert len(ref) > 50
    assert got == ref
    assert 0 < dec.n_restarts < len(got) / 2   # most commits without a restart


def test_stream_decoder_rarely_restarts():
    y, _ = synthetic_pcg(seconds=30.0, sr=2000, murmur=False)
    s = Stream(2000)
    ev = [e for i in range(0, y.size, 200) for e in s.push(y[i:i + 200])]
    assert len(ev) > 60
    assert s._decoder.n_restarts < len(ev) / 4


@pytest.mark.parametrize("sr, kw", [(500, {"lookahead_s": 0.0, "lag_s": 0.5}),
                                    (11025, {"hop_s": 0.02}),
                                    (48000, {}),
                                    (22050, {"method": "springer2016"})])
def test_stream_any_rate_and_block(sr, kw):
    """Rates whose frames are not whole samples (11025 Hz) or need the resampler's
    provisional samples inside the block (no lookahead at 500 Hz): the known sounds."""
    from heartsound.evaluation.detection import score_against_rows

    y, rows = synthetic_pcg(seconds=12.0, sr=sr, murmur=False)
    s = Stream(sr, **kw)
    n = max(1, int(0.037 * sr))
    ev = [e for i in range(0, y.size, n) for e in s.push(y[i:i + n])] + s.flush()
    assert score_against_rows(rows, [(e.sound, e.centre_s) for e in ev], 0.06)["f1"] >= 0.95
