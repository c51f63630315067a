"""Streaming feature front end: the offline envelopes computed once per sample, with
the filters' state carried from block to block, normalised with running statistics.

Audio arrives in chunks of any size; it is processed in *blocks* of :attr:`hop` frames
(:data:`heartsound.streaming.DEFAULT_HOP_S` by default), so the features do not depend on
how the stream was chunked. A block is ready once ``lookahead`` frames of audio past it
have arrived (:data:`heartsound.streaming.stream.DEFAULT_LOOKAHEAD_S` by default). For
the frames ``[f0, f1)`` of a block (1 kHz samples ``[b0, b1)``), each offline step (:mod:`heartsound.features`, :mod:`heartsound.preprocess`)
runs once on the new samples, with only the context it needs:

* resampling to 1 kHz (:class:`~.filtering.StreamResampler`): a window with a left margin
  of the anti-aliasing filters' reach (:mod:`heartsound.resampling`; 10 ms at 2-4 kHz,
  11 ms at 44.1 kHz in two stages): the same samples as offline;
* the 25-400 Hz band-pass and the homomorphic envelope's 8 Hz low-pass, both zero-phase
  offline (:class:`~.filtering.ZeroPhaseStream`): the forward pass runs once over every
  sample with its state carried (the offline forward pass), the backward pass from the
  end of the block's lookahead, closed by the offline filter's odd extension;
* the Hilbert envelope: on the block and its lookahead plus :data:`_HIL_LEFT` samples of
  the past; the PSD envelope and the band powers: on their windows' offline grid, with
  the half-window of context they need;
* the 50 Hz decimation (:func:`heartsound.features.to_frames`): a window of the
  envelopes from :data:`_FRAMES_LEFT` frames back (its filter's half-length: exact on the
  left) to the end of the lookahead (extended by a line on the right, as offline at a
  recording's end), applied as a matrix (it is linear).

Differences from the offline features (:func:`heartsound.features.neural_features`,
:func:`~heartsound.features.springer_features`):

* per-recording z-scoring becomes running statistics: each column is standardised with
  an exponentially weighted mean and variance (cumulative over the first
  :data:`TAU_S` seconds, then a time constant of :data:`TAU_S`), seeded by the first
  :data:`WARMUP_S` seconds. On a stationary recording these approach the recording's mean
  and SD, so the emissions approach the offline ones after the first seconds; a change of
  gain or noise is tracked within about ``TAU_S``;
* the band energies' floor ``1e-6 x mean power`` uses the running mean power;
* Schmidt's spike removal (a whole-recording rule) is not applied;
* the zero-phase filters' backward pass and the decimation see a signal cut at the end
  of the lookahead, so the last frames of each block differ slightly from the offline
  ones (less with a longer lookahead).
"""

from __future__ import annotations

import math
from collections import deque
from functools import lru_cache

import numpy as np

from ..features import (LOG_LOWPASS_PADLEN, band_powers, hilbert_envelope, psd_envelope,
                        to_frames)
from ..filters import butter_ba, butter_sos, lfilter_zi, polyphase_taps
from ..preprocess import BAND_HZ, SR, bandpass_padlen
from ..vocab import FRAME_RATE, SPRINGER_BANDS_HZ
from .filtering import StreamResampler, Tail, ZeroPhaseStream

__all__ = ["TAU_S", "WARMUP_S", "RunningZ", "StreamFrontend"]

#: 1 kHz samples per 50 Hz frame.
_R = SR // int(FRAME_RATE)
#: Samples of the past the Hilbert transform of a block sees (its window's left margin).
_HIL_LEFT = 200
#: Frames of the past the 50 Hz decimation sees (the half-length of its 401-tap filter).
_FRAMES_LEFT = 10
#: Hop of the PSD envelope's windows (samples at 1 kHz).
_PSD_HOP = 25
#: Past samples at 1 kHz every block keeps for the next one.
_KEEP = max(_HIL_LEFT, _FRAMES_LEFT * _R) + 2 * _R
_EPS = 1e-12

#: Time constant (s) of the running mean and variance.
TAU_S = 30.0
#: Seconds of features that seed the running statistics (held back until then).
WARMUP_S = 2.0


class RunningZ:
    """Running per-column z-scoring: cumulative for the first ``n_tau`` frames, then an
    exponentially weighted mean and variance with time constant ``n_tau`` frames."""

    def __init__(self, n_cols: int, n_tau: int) -> None:
        self.n = 0
        self.n_tau = int(n_tau)
        self.mean = np.zeros(n_cols)
        self.var = np.zeros(n_cols)

    def update(self, x: np.ndarray) -> np.ndarray:
        """Fold the rows of ``x [m, n_cols]`` in, in order; return each row standardised
        with the statistics including it, ``[m, n_cols]``.

        The same numbers as folding the rows in one at a time (Welford's update while
        ``n < n_tau``, then ``mean += a d``, ``var = (1 - a)(var + a d^2)`` with
        ``a = 1 / n_tau`` and ``d`` the row minus the previous mean), up to rounding,
        computed for the whole block: prefix sums for the cumulative part, a first-order
        recursive filter (``scipy.signal.lfilter``) for the exponential one."""
        x = np.asarray(x, dtype=np.float64)
        k = int(np.clip(self.n_tau - self.n, 0, x.shape[0]))   # rows of the cumulative part
        mean = np.empty_like(x)
        var = np.empty_like(x)
        if k:
            z = x[:k] - self.mean                 # relative to the old mean, for accuracy
            n = self.n + np.arange(1, k + 1)[:, None]
            sz, szz = np.cumsum(z, axis=0), np.cumsum(z * z, axis=0)
            mean[:k] = self.mean + sz / n
            var[:k] = (self.n * self.var + szz - sz * sz / n) / n
            self.n += k
            self.mean, self.var = mean[k - 1].copy(), var[k - 1].copy()
        if k < x.shape[0]:
            from scipy.signal import lfilter

            a = 1.0 / self.n_tau
            rest = x[k:]
            m = lfilter([a], [1.0, a - 1.0], rest, axis=0, zi=((1.0 - a) * self.mean)[None])[0]
            prev = np.vstack([self.mean[None], m[:-1]])      # the mean before each row
            u = (1.0 - a) * a * (rest - prev) ** 2
            v = lfilter([1.0], [1.0, a - 1.0], u, axis=0, zi=((1.0 - a) * self.var)[None])[0]
            mean[k:], var[k:] = m, v
            self.n += rest.shape[0]
            self.mean, self.var = m[-1].copy(), v[-1].copy()
        sd = np.sqrt(np.maximum(var, 0.0))
        return (x - mean) / np.where(sd > 1e-8, sd, 1.0)

    def update_mean(self, x: np.ndarray) -> None:
        """Fold the rows of ``x [m, n_cols]`` into the mean only (:attr:`var` is left
        unchanged): the mean :meth:`update` would reach, without the per-row numbers."""
        x = np.asarray(x, dtype=np.float64)
        k = int(np.clip(self.n_tau - self.n, 0, x.shape[0]))
        if k:
            self.mean = self.mean + (x[:k] - self.mean).sum(axis=0) / (self.n + k)
            self.n += k
        m = x.shape[0] - k
        if m:
            a = 1.0 / self.n_tau
            w = a * (1.0 - a) ** np.arange(m - 1, -1, -1)       # weight of each row
            self.mean = (1.0 - a) ** m * self.mean + w @ x[k:]
            self.n += m


class StreamFrontend:
    """Blocks of raw audio in, standardised feature frames at 50 Hz out.

    Parameters
    ----------
    sr : int
        Sample rate of the pushed audio (Hz, >= 500).
    kind : {"neural", "springer", "springer_extended"}
        Columns: the three Springer envelopes, plus the five log band energies
        (``"neural"``) or the four sub-band envelopes (``"springer_extended"``).
    hop_frames, lookahead_frames : int
        Block length and right context, in 50 Hz frames.

    Attributes
    ----------
    n_frames : int
        Frames produced so far (frame ``k`` lies at ``k / 50`` s).
    """

    def __init__(self, sr: int, kind: str = "neural", *, hop_frames: int = 10,
                 lookahead_frames: int = 5) -> None:
        self.sr = int(sr)
        self.kind = kind
        self.hop, self.ahead = int(hop_frames), int(lookahead_frames)
        self._chunks: list[np.ndarray] = []
        self._raw = Tail()             # raw samples not yet needed no more
        self.n_samples = 0
        self.n_frames = 0              # frames emitted (after warm-up)
        self._done = 0                 # frames computed (including held back)
        self._need = self._sample(self.hop + self.ahead)   # samples the next block needs
        self.n_cols = n_cols = {"neural": 8, "springer": 3, "springer_extended": 7}[kind]
        self._z = RunningZ(n_cols, int(TAU_S * FRAME_RATE))
        self._pmean = RunningZ(5, int(TAU_S * FRAME_RATE)) if kind == "neural" else None
        self._held: list[np.ndarray] = []
        #: (band-passed RMS, fraction of samples at |y| >= 0.999) of the last 10 blocks
        self.block_stats: deque[tuple[float, float]] = deque(maxlen=10)
        self._rs = StreamResampler(self.sr, SR)
        self._x1k, self._clean = Tail(), Tail()
        self._env = Tail(3 if kind == "neural" else n_cols)
        self._bp = _bandpass_stream(BAND_HZ)
        self._hom = _log_lowpass_stream()
        self._bands = [(_bandpass_stream(b), _log_lowpass_stream(), Tail())
                       for b in (SPRINGER_BANDS_HZ if kind == "springer_extended" else ())]

    def _sample(self, frame: float) -> int:
        return int(round(frame * self.sr / FRAME_RATE))

    def push(self, y: np.ndarray, *, final: bool = False) -> list[np.ndarray]:
        """Append samples; return the standardised frames that became ready, one array
        ``[m, n_cols]`` per block (``final``: also the incomplete last block), so that
        what follows sees the same blocks whatever the chunking."""
        if y.size:
            self._chunks.append(y)
            self.n_samples += y.size
        if not final and self._need > self.n_samples:
            return []
        if self._chunks:
            self._raw.extend(self._chunks)
            self._chunks = []
        out = []
        total = int(np.ceil(self.n_samples * FRAME_RATE / self.sr - 1e-9))
        while True:
            f0 = self._done
            f1 = f0 + self.hop
            last = self._sample(f1 + self.ahead) > self.n_samples
            if last:
                if not final or f0 >= total:
                    break
                f1 = total
            out.append(self._normalise(self._block(f0, f1, last), final))
            self._done = f1
            self._need = self._sample(f1 + self.hop + self.ahead)
        if final and self._held:       # a stream shorter than the warm-up
            out.append(self._normalise(np.zeros((0, self._z.mean.size)), True))
        return out

    def _signal(self, f1: int, last: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """The 1 kHz signal: (newly final samples, provisional ones after them, absolute
        index of the end) for the window ending ``lookahead`` frames after frame ``f1``."""
        n_in = self.n_samples if last else min(self.n_samples, self._sample(f1 + self.ahead))
        a_in, _ = self._rs.window_start()
        new, prov = self._rs.advance(self._raw.get(a_in, n_in), a_in, n_in, last)
        self._x1k.append(new)
        return new, prov, self._rs.n_final + prov.size

    def _block(self, f0: int, f1: int, last: bool) -> np.ndarray:
        """Unnormalised features ``[f1 - f0, n_cols]`` of frames ``[f0, f1)``."""
        new, prov, end = self._signal(f1, last)
        b0, b1 = f0 * _R, min(f1 * _R, end)
        self._bp.push(new)
        clean = self._bp.output(b0, prov)                       # [b0, end)
        self._clean.append(clean[:b1 - b0])
        env = [self._envelopes(clean, b0, b1, end)]
        for bp, lp, hist in self._bands:
            bp.push(clean[:b1 - b0])
            band = bp.output(b0, clean[b1 - b0:])
            hist.append(band[:b1 - b0])
            hil = _hilbert(hist, band[b1 - b0:], b0)
            lp.push(np.log(hil[:b1 - b0] + _EPS))
            env.append(lp.output(b0, np.log(hil[b1 - b0:] + _EPS))[:, None])
            hist.trim(b1 - _HIL_LEFT)
            bp.trim(b1)
            lp.trim(b1)
        envs = np.hstack(env)                                   # [b0, end) x columns
        self._env.append(envs[:b1 - b0])
        w0 = max(0, (f0 - _FRAMES_LEFT) * _R)                   # frame-aligned
        window = np.concatenate([self._env.get(w0, b0), envs])
        feats = self._decimate(window, f0 - w0 // _R, f1 - w0 // _R, regular=w0 > 0 and not last)
        if self.kind == "neural":
            p0 = max(0, (f0 - 2) * _R)                          # 40 ms half-window
            x = np.concatenate([self._x1k.get(p0), prov])
            feats = np.column_stack([feats, band_powers(x, SR, f1 - p0 // _R)[f0 - p0 // _R:]])
        self._stats(clean[:b1 - b0], f0, f1)
        keep = b1 - _KEEP                                       # the next block's margins
        for t in (self._x1k, self._clean, self._env):
            t.trim(keep)
        self._bp.trim(b1)
        self._hom.trim(b1)
        self._raw.trim(min(self._rs.window_start()[0], self._sample(f1)))
        return feats

    def _decimate(self, window: np.ndarray, r0: int, r1: int, regular: bool) -> np.ndarray:
        """Frames ``[r0, r1)`` of ``to_frames(window)`` (:func:`heartsound.features.
        to_frames`). It is linear in the window (its edges extended by a line), so for
        the windows of every block but the first and the last (one length) it is applied
        as a matrix: ``to_frames`` of the identity, made once (the same numbers up to
        rounding, without the call's overhead)."""
        if not regular:
            return to_frames(window, SR, FRAME_RATE)[r0:r1]
        return _decimation_matrix(window.shape[0], r0, r1) @ window

    def _envelopes(self, clean: np.ndarray, b0: int, b1: int, end: int) -> np.ndarray:
        """Homomorphic, Hilbert and PSD envelopes of samples ``[b0, end)``, [n, 3]."""
        hil = _hilbert(self._clean, clean[b1 - b0:], b0)
        self._hom.push(np.log(hil[:b1 - b0] + _EPS))
        hom = np.exp(self._hom.output(b0, np.log(hil[b1 - b0:] + _EPS)))
        p0 = max(0, (b0 - 2 * _PSD_HOP) // _PSD_HOP * _PSD_HOP)  # on the offline grid
        x = np.concatenate([self._clean.get(p0), clean[b1 - b0:]])
        psd = psd_envelope(x, SR)[b0 - p0:]
        return np.column_stack([hom, hil, psd])

    def _stats(self, clean: np.ndarray, f0: int, f1: int) -> None:
        """Block statistics for quality(): the samples of the new block only."""
        r = self._raw.get(max(self._raw.start, self._sample(f0)),
                          min(self._raw.end, self._sample(f1)))
        rms = math.sqrt(clean @ clean / clean.size) if clean.size else np.nan
        # counted only when the peak reaches it (two reductions, no temporaries)
        clip = np.count_nonzero(np.abs(r) >= 0.999) / r.size \
            if r.size and max(r.max(), -r.min()) >= 0.999 else 0.0
        self.block_stats.append((rms, clip))

    def _normalise(self, new: np.ndarray, final: bool) -> np.ndarray:
        if self.kind == "neural" and new.size:
            assert self._pmean is not None
            p = new[:, 3:]
            self._pmean.update_mean(p)   # running mean power, for the floor
            new = np.column_stack([new[:, :3], np.log10(p + 1e-10 + 1e-6 * self._pmean.mean)])
        if self._z.n == 0:
            self._held.append(new)
            held = np.concatenate(self._held)
            if held.shape[0] == 0 or (held.shape[0] < WARMUP_S * FRAME_RATE and not final):
                return np.zeros((0, new.shape[1]))
            # seed: the statistics of the warm-up, then standardise it with them
            self._held = []
            self._z.update(held)
            self._z.mean, self._z.var = held.mean(axis=0), held.var(axis=0)
            sd = np.sqrt(self._z.var)
            out = (held - self._z.mean) / np.where(sd > 1e-8, sd, 1.0)
        else:
            out = self._z.update(new) if new.size else new
        self.n_frames += out.shape[0]
        return out


@lru_cache(maxsize=8)
def _decimation_matrix(n: int, r0: int, r1: int) -> np.ndarray:
    """Rows ``[r0, r1)`` of :func:`heartsound.features.to_frames` applied to the
    identity of size ``n`` at 1 kHz: ``[r1 - r0, n]`` (made once per block geometry).

    Built without the ``n x n`` identity (9 MB and ~40 ms at 0.8 s blocks): a unit
    sample away from the edges gives the filter's response alone, so every column but
    the first and the last is the response to one probe of each of the :data:`_R`
    phases, shifted (the same numbers: a single non-zero input is multiplied by each tap
    and summed with zeros); the first and the last columns also carry the edges'
    extension by a line and are computed as they are."""
    half = (len(polyphase_taps(1, _R)) - 1) // 2            # to_frames' filter, samples
    m = (half // _R + 2) * _R                               # probe position, off the edges
    probe = np.zeros((2 * m + _R, _R))
    probe[m + np.arange(_R), np.arange(_R)] = 1.0
    resp = to_frames(probe, SR, FRAME_RATE)                 # [frames, phase]
    # response by offset d = R k - j of output frame k from input sample j
    d = _R * np.arange(resp.shape[0])[:, None] - (m + np.arange(_R))[None]
    lo = int(d.min())
    g = np.zeros(int(d.max()) - lo + 1)
    g[(d - lo).ravel()] = resp.ravel()
    dj = _R * np.arange(r0, r1)[:, None] - np.arange(n)[None] - lo
    inside = (dj >= 0) & (dj < g.size)
    out = np.where(inside, g[np.clip(dj, 0, g.size - 1)], 0.0)
    edges = np.zeros((n, 2))
    edges[0, 0] = edges[-1, 1] = 1.0
    out[:, [0, n - 1]] = to_frames(edges, SR, FRAME_RATE)[r0:r1]
    return out


def _hilbert(hist: Tail, prov: np.ndarray, b0: int) -> np.ndarray:
    """Hilbert envelope of samples ``[b0, hist.end + len(prov))``, from the held
    samples (up to :data:`_HIL_LEFT` before ``b0``) and the provisional ones."""
    a = max(hist.start, b0 - _HIL_LEFT)
    return hilbert_envelope(np.concatenate([hist.get(a), prov]))[b0 - a:]


def _bandpass_stream(band_hz: tuple[float, float]) -> ZeroPhaseStream:
    """The offline order-4 Butterworth band-pass (:func:`heartsound.preprocess.bandpass`)
    at 1 kHz, on a stream. Its second-order sections are applied as one transfer function
    (``lfilter``: a fifth of ``sosfilt``'s cost per call on a block; the outputs differ
    from the sections' by < 1e-8 relative for every band used, the 25-60 Hz one the
    worst)."""
    from scipy.signal import lfilter, sos2tf
    from scipy.signal import lfilter_zi as tf_zi   # of (b, a); ..filters.lfilter_zi designs

    band = (float(band_hz[0]), min(float(band_hz[1]), 0.45 * SR))
    sos = butter_sos(4, band, float(SR))
    b, a = sos2tf(sos)
    return ZeroPhaseStream(lambda v, z: lfilter(b, a, v, zi=z), tf_zi(b, a), bandpass_padlen(sos))


def _log_lowpass_stream(lpf_hz: float = 8.0) -> ZeroPhaseStream:
    """The homomorphic envelope's first-order 8 Hz low-pass (of the log envelope) at
    1 kHz, on a stream (:func:`heartsound.features.homomorphic_envelope`)."""
    from scipy.signal import lfilter

    b, a = butter_ba(1, lpf_hz, float(SR))
    return ZeroPhaseStream(lambda v, z: lfilter(b, a, v, zi=z), lfilter_zi(1, lpf_hz, float(SR)),
                           LOG_LOWPASS_PADLEN)
