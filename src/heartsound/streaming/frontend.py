"""Streaming feature front end: the offline envelopes on overlapping windows, normalised
with running statistics.

Audio arrives in chunks of any size; it is processed in *blocks* of :attr:`hop` frames
(0.2 s by default), so the features do not depend on how the stream was chunked. For the
frames ``[f0, f0 + hop)`` of a block, the offline feature code
(:func:`heartsound.features.envelopes`, :func:`~heartsound.features.band_envelopes`,
:func:`~heartsound.features.band_powers`, :func:`~heartsound.features.to_frames`) runs on
the raw audio of ``[f0 - left, f0 + hop + lookahead)`` frames and only the block's frames
are kept: the window's edge effects (zero-phase filters, the Hilbert transform, the
anti-aliasing filter of the 50 Hz decimation, about 0.2 s long at most) fall mostly in the
margins. A block is ready once ``lookahead`` frames of audio past it have arrived, so the
front end delays the features by ``lookahead`` (0.1 s by default) plus up to one block.

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
* the last ``lookahead`` frames of each block's window see a cut signal, so frames differ
  slightly from the offline ones near the block edges (less with a longer lookahead).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..features import band_envelopes, band_powers, envelopes, to_frames
from ..io import resample
from ..preprocess import BAND_HZ, SR, bandpass_centred
from ..vocab import FRAME_RATE

__all__ = ["TAU_S", "WARMUP_S", "RunningZ", "StreamFrontend"]

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


class StreamFrontend:
    """Blocks of raw audio in, standardised feature frames at 50 Hz out.

    Parameters
    ----------
    sr : int
        Sample rate of the pushed audio (Hz, >= 500).
    kind : {"neural", "springer", "springer_extended"}
        Columns: the three Springer envelopes, plus the five log band energies
        (``"neural"``) or the four sub-band envelopes (``"springer_extended"``).
    hop_frames, left_frames, lookahead_frames : int
        Block length, left context and right context, in 50 Hz frames.

    Attributes
    ----------
    n_frames : int
        Frames produced so far (frame ``k`` lies at ``k / 50`` s).
    """

    def __init__(self, sr: int, kind: str = "neural", *, hop_frames: int = 10,
                 left_frames: int = 25, lookahead_frames: int = 5) -> None:
        self.sr = int(sr)
        self.kind = kind
        self.hop, self.left, self.ahead = int(hop_frames), int(left_frames), int(lookahead_frames)
        self._buf = np.zeros(0)        # raw samples from absolute index self._buf0
        self._buf0 = 0
        self.n_samples = 0
        self.n_frames = 0              # frames emitted (after warm-up)
        self._done = 0                 # frames computed (including held back)
        self.n_cols = n_cols = {"neural": 8, "springer": 3, "springer_extended": 7}[kind]
        self._z = RunningZ(n_cols, int(TAU_S * FRAME_RATE))
        self._pmean = RunningZ(5, int(TAU_S * FRAME_RATE)) if kind == "neural" else None
        self._held: list[np.ndarray] = []
        #: (band-passed RMS, fraction of samples at |y| >= 0.999) of the last 10 blocks
        self.block_stats: deque[tuple[float, float]] = deque(maxlen=10)

    def _sample(self, frame: float) -> int:
        return int(round(frame * self.sr / FRAME_RATE))

    def push(self, y: np.ndarray, *, final: bool = False) -> list[np.ndarray]:
        """Append samples; return the standardised frames that became ready, one array
        ``[m, n_cols]`` per block (``final``: also the incomplete last block), so that
        what follows sees the same blocks whatever the chunking."""
        self._buf = np.concatenate([self._buf, np.asarray(y, dtype=np.float64)])
        self.n_samples += int(np.size(y))
        out = []
        while True:
            f0 = self._done
            f1 = f0 + self.hop
            total = int(np.ceil(self.n_samples * FRAME_RATE / self.sr - 1e-9))
            if self._sample(f1 + self.ahead) > self.n_samples:
                if not final or f0 >= total:
                    break
                f1 = total
            out.append(self._normalise(self._block(f0, f1), final))
            self._done = f1
        if final and self._held:       # a stream shorter than the warm-up
            out.append(self._normalise(np.zeros((0, self._z.mean.size)), True))
        return out

    def _block(self, f0: int, f1: int) -> np.ndarray:
        fa = max(0, f0 - self.left)
        a = self._sample(fa)
        z = min(self.n_samples, self._sample(f1 + self.ahead))
        raw = self._buf[a - self._buf0:z - self._buf0]
        x1k = resample(raw, self.sr, SR)
        clean = bandpass_centred(x1k, SR, BAND_HZ)
        env = envelopes(clean, SR)
        cols = [to_frames(env[k], SR, FRAME_RATE) for k in ("homomorphic", "hilbert", "psd")]
        if self.kind == "springer_extended":
            b = band_envelopes(clean, SR)
            cols += [to_frames(b[:, i], SR, FRAME_RATE) for i in range(b.shape[1])]
        feats = np.column_stack(cols)
        if self.kind == "neural":
            feats = np.column_stack([feats, band_powers(x1k, SR, feats.shape[0])])
        keep = feats[f0 - fa:f1 - fa]
        # block statistics for quality(): the samples of the new block only
        s0, s1 = self._sample(f0) - a, self._sample(f1) - a
        seg = clean[int(s0 * SR / self.sr):int(s1 * SR / self.sr)]
        r = raw[s0:s1]
        self.block_stats.append((float(np.sqrt(np.mean(seg ** 2))) if seg.size else np.nan,
                                 float(np.mean(np.abs(r) >= 0.999)) if r.size else 0.0))
        drop = self._sample(max(0, f1 - self.left)) - self._buf0
        if drop > 0:   # keep only the left context of the next block
            self._buf = self._buf[drop:]
            self._buf0 += drop
        return keep

    def _normalise(self, new: np.ndarray, final: bool) -> np.ndarray:
        if self.kind == "neural" and new.size:
            assert self._pmean is not None
            p = new[:, 3:]
            self._pmean.update(p)        # running mean power, for the floor
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
