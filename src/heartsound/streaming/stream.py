"""``heartsound.Stream``: live S1/S2 events, heart rate and signal quality from audio chunks.

Pipeline per block of :data:`DEFAULT_HOP_S` (:mod:`.frontend` -> :mod:`.emissions` -> :mod:`.decoder`):
features on overlapping windows with running normalisation, the offline method's model
(network or logistic regressions) for the emissions, and fixed-lag decoding of the same
HSMM, whose duration model follows the heart rate read from the last
:data:`RATE_WINDOW_S` seconds (as offline, from the autocorrelation of ``P(S1)`` or of
the envelope), re-estimated every :data:`RATE_EVERY_S` seconds; springer2016 also decodes
its competing candidates over that window and keeps the best-scoring one, as offline.

Latency: ``lag_s`` is the time from a sound's offset to the audio time at which it is
emitted, not counting the wait for the end of the current block (up to ``hop_s``). It is
spent as the front end's lookahead (``lookahead_s``), the network's lookahead (neural:
:data:`NET_LOOKAHEAD_S`) and the decoder's lag (the rest, at least one frame).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AudioError, ParameterError
from ..segmentation.result import Event
from ..vocab import FRAME_RATE, STATE_NAMES
from .decoder import FixedLagDecoder
from .emissions import Emitter
from .frontend import StreamFrontend

__all__ = ["DEFAULTS", "DEFAULT_HOP_S", "DEFAULT_LAG_S", "DEFAULT_LOOKAHEAD_S", "HeartRate",
           "Stream", "StreamEvent", "StreamQuality"]

#: Default (block length, lag, front-end lookahead) of each method, in seconds: the work
#: is done once per block; the lag is the time from a sound's offset to its emission
#: (plus up to one block); the lookahead is the audio after a block the front end waits
#: for (its windows' right margin). springer2016 keeps 0.4 s blocks and 0.1 s of
#: lookahead: with 0.6 s blocks its PASCAL F1 falls 0.025 below offline. Measured in
#: docs/results/stream.md.
DEFAULTS = {"neural": (0.8, 0.26, 0.06), "springer2016": (0.4, 0.4, 0.1)}
#: The neural defaults (:data:`DEFAULTS`).
DEFAULT_HOP_S, DEFAULT_LAG_S, DEFAULT_LOOKAHEAD_S = DEFAULTS["neural"]
#: The neural network's lookahead (s): frames of features after a frame before its
#: posterior is kept.
NET_LOOKAHEAD_S = 0.16
#: Seconds of the rate signal the duration model's heart rate is read from.
RATE_WINDOW_S = 5.0
#: Least seconds before the first heart-rate estimate (decoding starts then).
RATE_MIN_S = 3.0
#: Least seconds between heart-rate re-estimates (made at the end of a block: every
#: second block at the default 0.8 s).
RATE_EVERY_S = 1.6
#: S1-S1 intervals in the running median of :meth:`Stream.heart_rate`.
N_INTERVALS = 5
#: Band-passed RMS (signal units) below which there is no contact.
NO_CONTACT_RMS = 1e-4
#: Autocorrelation peak below which the signal is poor (no clear cardiac rhythm).
POOR_PERIODICITY = 0.25
#: Fraction of clipped samples above which the signal is poor.
POOR_CLIPPED = 0.01


@dataclass(frozen=True)
class StreamEvent(Event):
    """A confirmed heart sound: :class:`~heartsound.segmentation.result.Event` plus
    ``emitted_at_s``, the stream time (s of audio pushed) at which it was emitted."""

    emitted_at_s: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["emitted_at_s"] = round(float(self.emitted_at_s), 4)
        return d


@dataclass(frozen=True)
class HeartRate:
    """Current heart rate: ``bpm`` (None before any estimate), ``sd_bpm`` its spread
    (1.4826 x MAD of the recent beat-to-beat rates; None from the autocorrelation),
    ``n_beats`` intervals used, ``source`` ``"beats"``, ``"autocorrelation"`` or
    ``"none"``."""

    bpm: float | None
    sd_bpm: float | None
    n_beats: int
    source: str


@dataclass(frozen=True)
class StreamQuality:
    """Current signal quality over the last 2 s: ``label`` ``"good"``, ``"poor"``,
    ``"no contact"`` or ``"unknown"`` (warming up); ``rms`` band-passed RMS, ``clipped``
    fraction of clipped samples, ``periodicity`` autocorrelation peak of the rhythm."""

    label: str
    rms: float
    clipped: float
    periodicity: float


class Stream:
    """Streaming segmenter: push audio chunks, get S1/S2 events as they are confirmed.

    Parameters
    ----------
    sr : int
        Sample rate of the chunks (Hz, whole, >= 500).
    method : {"neural", "springer2016"}
        The offline method whose model and HSMM are used. Use ``"neural"`` (the
        default) for live work: its streamed F1 is within 0.004 of its offline F1, at
        about 500x real time or more on one core. springer2016 streams about 100x real
        time and, at its default lag, 0.06 F1 below its offline F1 on CirCor (its heart
        rate and S1/S2 labelling are read from the first seconds; ``lag_s=1.0`` more
        than halves the gap; docs/results/stream.md).
    lag_s : float, optional
        Time from a sound's offset to its emission (s), plus up to ``hop_s``.
    hop_s : float, optional
        Block length (s, a multiple of 20 ms): work is done once per block.
    lookahead_s : float, optional
        Audio after a block the front end waits for (its windows' right margin).
        ``lag_s``, ``hop_s``, ``lookahead_s``: default the method's :data:`DEFAULTS`.
    model : optional
        A segmenter or model file of ``method`` (e.g. a model fitted on other patients).
    n_threads : int
        ONNX Runtime threads.

    Examples
    --------
    >>> import heartsound
    >>> y, rows = heartsound.synthetic_pcg(seconds=20.0)                  # doctest: +SKIP
    >>> s = heartsound.Stream(2000)                                       # doctest: +SKIP
    >>> events = [e for i in range(0, len(y), 200) for e in s.push(y[i:i + 200])]  # doctest: +SKIP
    >>> events += s.flush()                                               # doctest: +SKIP
    >>> round(s.heart_rate().bpm), s.quality().label                      # doctest: +SKIP
    (75, 'good')
    """

    def __init__(self, sr: int, *, method: str = "neural", lag_s: float | None = None,
                 hop_s: float | None = None, lookahead_s: float | None = None,
                 model: Any = None, n_threads: int = 1) -> None:
        if not (float(sr) == int(sr) and int(sr) >= 500):
            raise AudioError(f"stream: sample rate must be a whole number >= 500 Hz, got {sr}")
        hop_d, lag_d, ahead_d = DEFAULTS.get(method, DEFAULTS["neural"])
        hop_s = hop_d if hop_s is None else hop_s
        lag_s = lag_d if lag_s is None else lag_s
        lookahead_s = ahead_d if lookahead_s is None else lookahead_s
        hop, ahead = int(round(hop_s * FRAME_RATE)), int(round(lookahead_s * FRAME_RATE))
        if hop < 1 or ahead < 0:
            raise ParameterError(f"stream: hop_s must be >= 0.02 s and lookahead_s >= 0, "
                                 f"got {hop_s}, {lookahead_s}")
        self.sr, self.method = int(sr), method
        net_ahead = int(round(NET_LOOKAHEAD_S * FRAME_RATE)) if method == "neural" else 0
        self._emitter = Emitter(method, model, lookahead_frames=net_ahead,
                                n_threads=n_threads)
        self._frontend = StreamFrontend(self.sr, self._emitter.kind, hop_frames=hop,
                                        lookahead_frames=ahead)
        dec_lag = int(round(lag_s * FRAME_RATE)) - ahead - net_ahead
        if dec_lag < 1:
            raise ParameterError(f"stream: lag_s={lag_s} must exceed the front end's "
                                 f"lookahead ({(ahead + net_ahead) / FRAME_RATE:.2f} s)")
        self.lag_s = float(lag_s)
        self._decoder = FixedLagDecoder(dec_lag)
        self._rate_sig: deque[np.ndarray] = deque()
        self._ll_sig: deque[np.ndarray] = deque()
        self._rate_n = 0
        self._next_rate = int(RATE_MIN_S * FRAME_RATE)
        self._acf: tuple[float, float, float] | None = None
        self._s1: deque[float] = deque(maxlen=N_INTERVALS + 1)
        self._n_in = 0
        self._closed = False

    @property
    def time_s(self) -> float:
        """Seconds of audio pushed so far."""
        return self._n_in / self.sr

    def push(self, chunk: Any) -> list[StreamEvent]:
        """Add audio samples (any length, mono, float); return the events confirmed now.

        Raises
        ------
        AudioError
            The samples are not a finite 1-D array, or the stream was flushed.
        """
        y = np.asarray(chunk, dtype=np.float64)
        if y.ndim == 2:
            y = y.mean(axis=1)
        # a finite sum of squares means finite samples (the full check only when it is not)
        if y.ndim != 1 or not (math.isfinite(y @ y) or np.isfinite(y).all()):
            raise AudioError("stream: chunks must be 1-D (or frames x channels) finite samples")
        if self._closed:
            raise AudioError("stream: push() after flush()")
        self._n_in += y.size
        blocks = self._frontend.push(y)
        return [e for block in blocks for e in self._advance(block)] if blocks else []

    def flush(self) -> list[StreamEvent]:
        """End of the stream: process the rest and return every remaining event (the last
        one may be cut by the end). The stream accepts no more audio."""
        if self._closed:
            return []
        blocks = self._frontend.push(np.zeros(0), final=True)
        out = [e for b in blocks for e in self._advance(b)]
        out += self._advance(np.zeros((0, self._frontend.n_cols)), final=True)
        self._closed = True
        return out

    def _advance(self, feats: np.ndarray, final: bool = False) -> list[StreamEvent]:
        loglik, rate = self._emitter.push(feats, final=final)
        self._update_rate(rate, loglik, final)
        found = self._decoder.push(loglik, final=final)
        return [self._event(*f) for f in found]

    def _update_rate(self, rate: np.ndarray, loglik: np.ndarray, final: bool) -> None:
        if rate.shape[0]:
            self._rate_sig.append(rate)
            self._ll_sig.append(loglik)
            self._rate_n += rate.shape[0]
        keep = int(RATE_WINDOW_S * FRAME_RATE)
        while self._rate_sig and self._rate_n - self._rate_sig[0].shape[0] >= keep:
            self._rate_n -= self._rate_sig.popleft().shape[0]
            self._ll_sig.popleft()
        n = self._emitter.n_done
        if n < self._next_rate and not (final and self._decoder.model is None):
            return
        self._next_rate = n + int(RATE_EVERY_S * FRAME_RATE)
        if not self._rate_sig:
            return
        sig = np.concatenate(self._rate_sig)[-keep:]
        if sig.shape[0] < 4:
            return
        cands = self._emitter.rate_candidates(sig)
        hr, sys_s = self._emitter.choose(cands, np.concatenate(self._ll_sig)[-keep:])
        self._acf = (hr, sys_s, cands[0][2])
        self._decoder.set_model(self._emitter.duration_model(hr, sys_s))

    def _event(self, state: int, on: int, off: int) -> StreamEvent:
        shift = self._emitter.shift
        end = self._frontend.n_samples / self.sr
        onset = max(0.0, (on - shift) / FRAME_RATE)
        offset = min(end, max(onset, (off - shift) / FRAME_RATE))
        if state == 1:
            self._s1.append(onset)
        return StreamEvent(STATE_NAMES[state], onset, offset, float(self.sr),
                           emitted_at_s=self.time_s)

    def heart_rate(self) -> HeartRate:
        """Current heart rate: the median of the last :data:`N_INTERVALS` S1-to-S1
        intervals of the emitted events (so it follows a change within a few beats), or,
        before three intervals, the autocorrelation estimate the decoder uses."""
        iv = np.diff(np.asarray(self._s1))
        iv = iv[(iv > 0.25) & (iv < 2.0)]         # 30 .. 240 bpm; gaps are not beats
        if iv.size >= 3:
            rates = 60.0 / iv
            med = float(np.median(rates))
            mad = float(np.median(np.abs(rates - med)))
            return HeartRate(float(60.0 / np.median(iv)), 1.4826 * mad, int(iv.size), "beats")
        if self._acf is not None:
            return HeartRate(float(self._acf[0]), None, 0, "autocorrelation")
        return HeartRate(None, None, 0, "none")

    def quality(self) -> StreamQuality:
        """Signal quality of the last 2 s: no contact (near silence, or heavy clipping),
        poor (no clear cardiac rhythm, or clipping), or good."""
        if not self._frontend.block_stats:
            return StreamQuality("unknown", float("nan"), 0.0, float("nan"))
        b = np.asarray(self._frontend.block_stats, dtype=np.float64)
        rms, clip = float(np.nanmedian(b[:, 0])), float(b[:, 1].mean())
        per = float("nan") if self._acf is None else float(self._acf[2])
        if not rms >= NO_CONTACT_RMS or clip > 0.2:
            label = "no contact"
        elif self._acf is None:
            label = "unknown"
        elif clip > POOR_CLIPPED or not per >= POOR_PERIODICITY:
            label = "poor"
        else:
            label = "good"
        return StreamQuality(label, rms, clip, per)
