"""Rational resampling (:func:`heartsound.io.resample`): one polyphase filter, or two
stages for high decimation ratios.

``scipy.signal.resample_poly(x, up, down)`` filters with ``20 max(up, down) + 1`` taps
at ``up`` times the input rate: about ``20 down / up`` multiply-adds per output sample
when decimating. From 44.1 kHz to 1 kHz (``up / down = 10 / 441``) that is an 8,821-tap
filter and ~880 multiply-adds per output sample, the largest single cost of analysing
or streaming a 44.1 kHz recording. Decimation by :data:`TWO_STAGE_RATIO` or more is
therefore done in two stages (:func:`resample_plan`):

1. an integer decimation by ``D`` (a divisor of ``down``) with a short equiripple FIR
   that keeps ``[0, sr_out / 2]`` within 0.03 % and attenuates by :data:`STAGE1_ATTEN_DB`
   everything that would fold into it (``k sr_in / D +- sr_out / 2``); ``D`` is the
   largest divisor of ``down`` that leaves at least :data:`STAGE1_MIN_RATE` times
   ``sr_out`` (bands at least 3 ``sr_out`` apart, so the filter is short: 33 taps at
   44.1 kHz, ``D = 9``);
2. ``resample_poly(up, down / D)`` with its default design, the same cut-off and
   transition band (in Hz) as the single filter's.

The response up to ``sr_out / 2`` is the single filter's within the first stage's
ripple, at a fraction of the cost (44.1 kHz -> 1 kHz: 0.15 instead of 0.85 ms of CPU per
second of audio, ``benchmarks/bench_resample.py``). Smaller ratios (2 -> 1 kHz,
4 -> 1 kHz, 4 -> 2 kHz, upsampling: CirCor, PhysioNet, PASCAL set B) keep the single
filter: their outputs are ``resample_poly``'s, bit for bit. ``soxr`` (libsoxr) was
measured too: about as fast, but its stream delays the output by up to 1.4 s at
44.1 -> 1 kHz (it works in large DFT blocks) and computes in single precision, and a
live stream needs the offline samples exactly and within milliseconds
(:class:`heartsound.streaming.filtering.StreamResampler`).

Each output sample is a fixed sum over its inputs (``upfirdn``), so resampling a window
that starts where both grids meet (an input index that is a multiple of ``down``) gives
the whole recording's samples exactly, away from the window's edges: :func:`reach` is how
far from them.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .filters import polyphase_taps

__all__ = ["STAGE1_ATTEN_DB", "STAGE1_MIN_RATE", "TWO_STAGE_RATIO", "Stage", "ratio", "reach",
           "resample", "resample_plan"]

#: Decimation ratio ``down / up`` from which resampling runs in two stages (the single
#: filter then costs >= 200 multiply-adds per output sample).
TWO_STAGE_RATIO = 10
#: Stopband attenuation (dB) of the first stage (the single filter's Kaiser beta 5 gives
#: about 54 dB at its first sidelobe).
STAGE1_ATTEN_DB = 70.0
#: Least rate after the first stage, in multiples of the output rate.
STAGE1_MIN_RATE = 4

#: One polyphase stage: (up, down, filter taps as ``resample_poly``'s ``window``).
Stage = tuple[int, int, np.ndarray]


def ratio(sr_in: int, sr_out: int) -> tuple[int, int]:
    """``(up, down)``: ``sr_out / sr_in`` as a reduced fraction (denominator <= 1000)."""
    frac = Fraction(int(sr_out), int(sr_in)).limit_denominator(1000)
    return frac.numerator, frac.denominator


@lru_cache(maxsize=32)
def resample_plan(sr_in: int, sr_out: int) -> tuple[Stage, ...]:
    """The stages :func:`resample` applies from ``sr_in`` to ``sr_out`` (Hz): none for
    equal rates, one ``(up, down, polyphase_taps(up, down))``, or two (module docstring).
    Made once per pair of rates; treat the taps as read-only."""
    up, down = ratio(sr_in, sr_out)
    if up == down:
        return ()
    if down >= TWO_STAGE_RATIO * up:
        d1 = max((d for d in range(2, down // (STAGE1_MIN_RATE * up) + 1) if down % d == 0),
                 default=0)
        if d1:
            return ((1, d1, _stage1_taps(d1, up / down)),
                    (up, down // d1, polyphase_taps(up, down // d1)))
    return ((up, down, polyphase_taps(up, down)),)


def _stage1_taps(d1: int, keep: float) -> np.ndarray:
    """First-stage filter of a decimation by ``d1`` that keeps ``[0, keep / 2]`` (in units
    of the input rate) and stops what folds onto it, the bands ``k / d1 +- keep / 2``: the
    shortest odd-length equiripple design (``scipy.signal.remez``, free between those
    bands) within :data:`STAGE1_ATTEN_DB` in both, else a Kaiser-window low-pass from
    ``keep / 2`` to ``1 / d1 - keep / 2`` that meets it (e.g. 44.1 kHz -> 1 kHz: 33 taps
    instead of the low-pass's 51)."""
    from scipy.signal import firwin, freqz, kaiserord, remez

    half = keep / 2.0
    edges = [0.0, half]
    k = 1
    while k / d1 - half < 0.5:
        edges += [k / d1 - half, min(k / d1 + half, 0.5)]
        k += 1
    delta = 10.0 ** (-STAGE1_ATTEN_DB / 20.0)
    n_kaiser, beta = kaiserord(STAGE1_ATTEN_DB, 2.0 / d1 - 4.0 * half)
    grid = np.linspace(0.0, 0.5, 8193)
    passband = grid <= half
    stop = np.zeros_like(passband)
    for lo, hi in zip(edges[2::2], edges[3::2]):
        stop |= (grid >= lo) & (grid <= hi)
    for n in range(max(5, n_kaiser // 2 | 1), n_kaiser | 1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # not converged: a longer one
            try:
                h = remez(n, edges, [1.0] + [0.0] * (k - 1), fs=1.0)
            except (ValueError, RuntimeWarning, UserWarning):
                continue
        gain = np.abs(freqz(h, worN=grid, fs=1.0)[1])
        if np.abs(gain[passband] - 1.0).max() <= delta and gain[stop].max() <= delta:
            return np.asarray(h)
    return np.asarray(firwin(n_kaiser | 1, 1.0 / d1, window=("kaiser", beta)))


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``y`` [shape=(n,) or (n, channels)] from ``sr_in`` to ``sr_out`` (Hz)
    along its first axis by the stages of :func:`resample_plan`: ``[shape=(ceil(n sr_out
    / sr_in), ...)]``, float64, zero-padded beyond both ends (``resample_poly``'s
    default)."""
    x = np.asarray(y, dtype=np.float64)
    plan = resample_plan(int(sr_in), int(sr_out))
    if not plan:
        return x
    up, down = ratio(sr_in, sr_out)
    n_out = -(-x.shape[0] * up // down)
    for i in range(len(plan)):
        x = _poly(x, int(sr_in), int(sr_out), i)
    return x[:n_out]


def _poly(x: np.ndarray, sr_in: int, sr_out: int, stage: int) -> np.ndarray:
    """Stage ``stage`` of :func:`resample_plan` on ``x`` (float64, along axis 0): the
    numbers of ``scipy.signal.resample_poly(x, up, down, window=taps)``, by its steps (the
    filter scaled by ``up``, zero-padded so the outputs are centred, ``upfirdn``, the
    delay removed), with the padded filter made once instead of at every call."""
    from scipy.signal import upfirdn

    up, down, taps = resample_plan(sr_in, sr_out)[stage]
    n = x.shape[0]
    n_out = -(-n * up // down)
    half = (taps.size - 1) // 2
    pre = down - half % down
    skip = (half + pre) // down
    # resample_poly's least trailing zeros for enough output (they add nothing)
    post = max(0, (n_out + skip - 1) * down - (n - 1) * up - (taps.size + pre) + 1)
    y = upfirdn(_padded(sr_in, sr_out, stage, post), x, up, down, axis=0)
    return y[skip:skip + n_out]


@lru_cache(maxsize=64)
def _padded(sr_in: int, sr_out: int, stage: int, post: int) -> np.ndarray:
    up, down, taps = resample_plan(sr_in, sr_out)[stage]
    pre = down - ((taps.size - 1) // 2) % down
    return np.concatenate([np.zeros(pre), taps * up, np.zeros(post)])


@lru_cache(maxsize=32)
def reach(sr_in: int, sr_out: int) -> int:
    """How far an output sample of :func:`resample` looks: every output at input time
    ``t`` (in input samples) depends only on inputs within ``reach / up`` of ``t``,
    ``up`` from :func:`ratio` (an upper bound, in units of ``sr_in * up``: for one stage
    the half-length of its filter)."""
    plan = resample_plan(int(sr_in), int(sr_out))
    if len(plan) < 2:
        return (len(plan[0][2]) - 1) // 2 if plan else 0
    (_, d1, taps1), (up, _, taps2) = plan
    half1, half2 = (len(taps1) - 1) // 2, (len(taps2) - 1) // 2
    return (half1 + (-(-half2 // up) + 1) * d1) * up
