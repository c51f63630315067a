"""Stateful pieces of the streaming front end: sample buffers addressed by absolute
index, polyphase resampling of a stream, and zero-phase IIR filtering of a stream with
the forward state carried from block to block.

The offline front end filters whole recordings forward and backward
(:func:`heartsound.preprocess.zero_phase`, ``scipy.signal.filtfilt`` with odd padding).
A stream cannot run the backward pass over the future, so :class:`ZeroPhaseStream` runs
the forward pass once over every sample as it becomes final (the state carried: the
forward outputs are those of the offline pass, sample for sample, once its start-up has
passed) and, for each block, the backward pass from the newest sample back to the
block's start, over the block's lookahead closed by the same odd extension the offline
filter puts at a recording's end. The block's samples therefore differ from the offline
ones only by what the backward pass would have carried in from beyond the lookahead
(a fraction of a percent for the 25-400 Hz band-pass with 0.1 s of lookahead).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..resampling import ratio, reach, resample

__all__ = ["StreamResampler", "Tail", "ZeroPhaseStream"]

Step = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class Tail:
    """The recent samples of a signal, addressed by absolute sample index.

    Attributes
    ----------
    start : int
        Absolute index of the first sample held.
    end : int
        Absolute index one past the last sample held (samples appended so far).
    """

    def __init__(self, n_cols: int | None = None) -> None:
        shape = (0,) if n_cols is None else (0, n_cols)
        self._x = np.zeros(shape)
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self._x.shape[0]

    def append(self, x: np.ndarray) -> None:
        self.extend([x])

    def extend(self, xs: list[np.ndarray]) -> None:
        """Append several arrays at once (one copy)."""
        if len(xs) == 1 and not self._x.shape[0]:
            self._x = np.asarray(xs[0], float)
        else:
            self._x = np.concatenate([self._x, *xs])

    def get(self, a: int, b: int | None = None) -> np.ndarray:
        """Samples ``[a, b)`` (absolute; ``a`` at least :attr:`start`)."""
        b = self.end if b is None else b
        assert a >= self.start, (a, self.start)
        return self._x[a - self.start:b - self.start]

    def trim(self, a: int) -> None:
        """Forget the samples before ``a``."""
        k = min(max(0, a - self.start), self._x.shape[0])
        if k:
            self._x = self._x[k:]
            self.start += k


class StreamResampler:
    """:func:`heartsound.io.resample` (:mod:`heartsound.resampling`: one or two polyphase
    stages) of a stream: each call resamples a window that starts on both rates' grid,
    with a left margin of the filters' reach (:func:`heartsound.resampling.reach`), so
    the outputs it calls final equal the offline ones exactly.

    Parameters
    ----------
    sr_in, sr_out : int
        Input and output rates (Hz).
    """

    def __init__(self, sr_in: int, sr_out: int) -> None:
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self.up, self.down = ratio(self.sr_in, self.sr_out)
        half = reach(self.sr_in, self.sr_out)        # in units of sr_in * up
        self._half = half
        #: output samples next to a window's edge that its zero padding changes
        self.margin = -(-half // self.down) + 1 if half else 0
        self.n_final = 0                   # output samples final so far

    def n_out(self, n_in: int) -> int:
        """Output samples of ``n_in`` input samples (``ceil(n_in up / down)``)."""
        return -(-n_in * self.up // self.down)

    def window_start(self) -> tuple[int, int]:
        """(input, output) index of the next window's first sample: ``margin`` outputs
        before the first non-final one, on the grid where both are whole."""
        q = max(0, self.n_final - self.margin) // self.up
        return q * self.down, q * self.up

    def advance(self, raw: np.ndarray, a_in: int, n_in: int, final: bool
                ) -> tuple[np.ndarray, np.ndarray]:
        """Resample the input window ``raw`` (input samples ``[a_in, n_in)``, from
        :meth:`window_start`); return (the newly final outputs, the provisional outputs
        after them). ``final``: the input ends at ``n_in`` (every output is final)."""
        a_out = a_in * self.up // self.down
        y = resample(raw, self.sr_in, self.sr_out)
        end = self.n_out(n_in)
        fin = end if final or not self._half else \
            max(self.n_final, (n_in * self.up - self._half) // self.down - 1)
        fin = min(fin, end)
        new = y[self.n_final - a_out:fin - a_out]
        prov = y[fin - a_out:end - a_out]
        self.n_final = fin
        return new, prov


class ZeroPhaseStream:
    """Forward-backward IIR filtering of a stream (see the module docstring).

    Parameters
    ----------
    step : callable
        ``step(x, z) -> (y, z_final)``: the filter with state, e.g. ``lambda v, z:
        sosfilt(sos, v, zi=z)``.
    zi : np.ndarray
        Its steady-state initial conditions per unit input (``sosfilt_zi``,
        ``lfilter_zi``), scaled by the first sample of each pass as scipy does.
    padlen : int
        Odd-extension length at the start of the stream and at the end of each block's
        lookahead (that of the offline filter).
    """

    def __init__(self, step: Step, zi: np.ndarray, padlen: int) -> None:
        self.step, self.zi, self.padlen = step, zi, int(padlen)
        self._z: np.ndarray | None = None
        self._fwd = Tail()                 # forward outputs of the final inputs
        self._inp = Tail()                 # the last padlen + 1 final inputs

    @property
    def n_final(self) -> int:
        """Final input samples filtered forward so far."""
        return self._fwd.end

    def push(self, x: np.ndarray) -> None:
        """Filter final samples forward (the state carried)."""
        if not x.size:
            return
        if self._z is None:               # as the offline filter: odd extension, zi x0
            pl = min(self.padlen, x.size - 1)
            left = 2 * x[:1] - x[pl:0:-1]
            self._z = self.zi * (left[:1] if pl else x[:1])
            if pl:
                _, self._z = self.step(left, self._z)
        y, self._z = self.step(x, self._z)
        self._fwd.append(y)
        self._inp.append(x)
        self._inp.trim(self._inp.end - self.padlen - 1)

    def output(self, start: int, prov: np.ndarray) -> np.ndarray:
        """Zero-phase output of samples ``[start, n_final + len(prov))``: the forward
        pass continued (not carried) over the provisional samples ``prov`` and an odd
        extension, then the backward pass from there. ``[shape=(n_final + len(prov) -
        start,)]``."""
        if self._z is None:
            self.push(prov[:1])
            prov = prov[1:]
        tail = np.concatenate([self._inp.get(self._inp.start), prov])
        pl = min(self.padlen, tail.size - 1)
        right = 2 * tail[-1:] - tail[-2:-pl - 2:-1] if pl else tail[:0]
        y, _ = self.step(np.concatenate([prov, right]), self._z)
        end = self._fwd.end                  # start may lie in the provisional samples
        seq = np.concatenate([self._fwd.get(min(start, end)), y])[max(0, start - end):]
        back, _ = self.step(seq[::-1], self.zi * seq[-1:])
        return back[::-1][:seq.size - right.size]

    def trim(self, a: int) -> None:
        """Forget the forward outputs before ``a`` (no later :meth:`output` starts
        before it)."""
        self._fwd.trim(a)
