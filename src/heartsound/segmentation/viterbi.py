"""Extended duration-dependent Viterbi decoding with memory bounded by the longest duration.

:class:`ExtendedViterbi` is the decoder behind :func:`heartsound.segmentation.hsmm.decode`
(Springer et al. 2016, Sec. II-E; the model is described in :mod:`.hsmm`). It is fed
per-frame emission log-likelihoods in blocks of any size (:meth:`ExtendedViterbi.push`)
and keeps, besides one back pointer per frame and state, only the last
``max_frames + 1`` rows (plus a fixed slack of :data:`_SPAN` rows) of the cumulative
emissions and of the best scores:

* ``cum[k]``: sum of the emissions of frames ``0 .. k-1`` (a running sum, the same
  numbers as ``np.cumsum``);
* ``best[k, j]``: best log-score of frames ``0 .. k-1`` with a segment of state ``j``
  ending at frame ``k-1``, kept as ``best[k, prev[j]]``, the score a segment of ``j``
  starting at frame ``k`` continues from;
* ``back[k, j]``: the duration (frames) of that last segment, ``int16``.

So the state of the forward pass is ``O(max_frames)`` whatever the recording's length, and
the back pointers cost 8 bytes per frame (a 1-hour recording at 50 Hz: 1.4 MB instead of
the ~20 MB of float64 score tables of a whole-array implementation). The order of every
floating-point operation is the whole-array one, so paths and scores are identical; this
is also the forward pass a fixed-lag (streaming) decoder needs.

References
----------
D. B. Springer, L. Tarassenko, G. D. Clifford. "Logistic Regression-HSMM-Based Heart Sound
Segmentation." IEEE Trans. Biomed. Eng. 63(4):822-832, 2016. doi:10.1109/TBME.2015.2475278
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from .hsmm import DurationModel

__all__ = ["ExtendedViterbi", "PREDECESSOR"]

#: Index of the state before each state in the cycle S1 -> systole -> S2 -> diastole.
PREDECESSOR = np.array([3, 0, 1, 2])
_N = 4
#: Frames between two slides of the score tables.
_SPAN = 2048
#: Frames whose ``cum[k] - cum[rows]`` terms are computed at once (bounds that buffer).
_DIFF_CHUNK = 256


class ExtendedViterbi:
    """Forward pass and backtracking of the extended duration-dependent Viterbi.

    Parameters
    ----------
    durations : DurationModel
        Duration model at the frame rate of the emissions
        (:func:`heartsound.segmentation.hsmm.duration_model`).

    Examples
    --------
    >>> from heartsound.segmentation.hsmm import duration_model
    >>> v = ExtendedViterbi(duration_model(75.0, 0.3))
    >>> e = np.log(np.full((300, 4), 0.25))
    >>> v.push(e[:120]); v.push(e[120:])
    >>> states, score = v.finish()
    >>> states.shape, sorted(set(states.tolist()))
    ((300,), [1, 2, 3, 4])
    """

    def __init__(self, durations: DurationModel) -> None:
        logp = durations.log_pmf()                      # (4, D)
        logs = durations.log_survival()                 # (4, D)
        self.max_frames = d = int(logp.shape[1])
        self._logp = np.ascontiguousarray(logp.T)       # (D, 4), row d-1
        self._logp_rev = np.ascontiguousarray(self._logp[::-1])  # row D-d
        self._logs = np.ascontiguousarray(logs.T)
        # residual-life prior of the first segment: P(j, d) proportional to P(dur_j >= d)
        self._init = np.ascontiguousarray((logs - np.log(np.exp(logs).sum())).T)
        # sliding tables: position p holds row base + p; when full, the last D rows are
        # moved to the front (amortised: once every _SPAN frames)
        self._keep = d + 1
        self._cum = np.zeros((self._keep + _SPAN, _N))
        self._best = np.full((self._keep + _SPAN, _N), -np.inf)
        self._base = 0
        self._back: list[np.ndarray] = []
        self._buf = np.empty((d, _N))                   # candidate scores, reused
        self._dtype = np.int16 if d < np.iinfo(np.int16).max else np.int32
        self.n_frames = 0

    def push(self, loglik: np.ndarray) -> None:
        """Advance the forward pass by a block of frames.

        Parameters
        ----------
        loglik : np.ndarray [shape=(m, 4)]
            ``log b_j(o_t)`` of the next ``m`` frames (validated by the caller:
            finite or ``-inf``).
        """
        e = np.asarray(loglik, dtype=np.float64)
        m = e.shape[0]
        back = np.empty((m, _N), dtype=self._dtype)
        if m == 0:
            self._back.append(back)
            return
        cum, best, big_d, logp_rev, init = self._cum, self._best, self.max_frames, \
            self._logp_rev, self._init
        size, keep, base, k0 = cum.shape[0], self._keep, self._base, self.n_frames
        # running sums of the block from the last row: np.cumsum adds in order, so these
        # are the numbers of one cumulative sum over the whole recording
        run = np.cumsum(np.concatenate([cum[k0 - base:k0 - base + 1], e]), axis=0)
        # the candidates of frame k, oldest row first (row r: a segment of dk - r frames),
        # are best[rows] + log P(duration) + (cum[k] - cum[rows]); the last term needs no
        # score, so it is computed for _DIFF_CHUNK frames at once. argmax reads the rows
        # newest first, so ties go to the shortest duration as in Springer's order.
        rows = self._window_rows(run, k0, base)
        cand_buf, add = self._buf, np.add
        for c0 in range(0, m, _DIFF_CHUNK):
            diffs = _window_diffs(run, rows, c0, min(m, c0 + _DIFF_CHUNK), big_d)
            for i in range(c0, min(m, c0 + _DIFF_CHUNK)):
                k = k0 + i + 1                          # segments ending at frame k - 1
                pos = k - base
                if pos == size:                         # slide: keep rows k-D-1 .. k-1
                    cum[:keep] = cum[pos - keep:pos]
                    best[:keep] = best[pos - keep:pos]
                    base = k - keep
                    pos = keep
                ck = run[i + 1]
                cum[pos] = ck
                dk = min(big_d, k)
                cand = cand_buf[big_d - dk:]
                add(best[pos - dk:pos], logp_rev[big_d - dk:], out=cand)
                add(cand, diffs[i - c0, big_d - dk:], out=cand)
                if k <= big_d:                          # a segment starting at frame 0
                    cand[0] = init[k - 1] + ck
                arg = cand[::-1].argmax(axis=0)
                back[i] = arg                           # durations - 1 (+1 below, at once)
                # best[pos, j] = the best candidate of state PREDECESSOR[j] = (3, 0, 1, 2)
                a, t = arg.tolist(), dk - 1
                best[pos] = (cand[t - a[3], 3], cand[t - a[0], 0], cand[t - a[1], 1],
                             cand[t - a[2], 2])
        back += 1
        self._base = base
        self.n_frames = k0 + m
        self._back.append(back)

    def _window_rows(self, run: np.ndarray, k0: int, base: int) -> np.ndarray:
        """Cumulative emissions of rows ``k0 + 1 - D .. k0 + m - 1`` [shape=(D + m - 1,
        4)] for a block of ``m`` frames after ``k0`` (``run``: rows ``k0 .. k0 + m``);
        rows before frame 0 are zeros (never read)."""
        d = self.max_frames
        have = min(d, k0 + 1)                           # rows k0+1-have .. k0 exist
        rows = np.zeros((d + len(run) - 2, _N))
        rows[d - have:d] = self._cum[k0 + 1 - have - base:k0 + 1 - base]
        rows[d:] = run[1:-1]
        return rows

    def finish(self) -> tuple[np.ndarray, float]:
        """Close the last segment (it may continue after the last frame) and backtrack.

        The forward state is not changed: after each :meth:`push` this gives the best
        path of the frames so far, and more frames can be pushed afterwards (a fixed-lag
        decoder reports the states older than its lag, which later frames rarely change).

        Returns
        -------
        states : np.ndarray [shape=(n_frames,), dtype=int8]
            1 S1, 2 systole, 3 S2, 4 diastole.
        score : float
            Log-score of the best path.

        Raises
        ------
        ParameterError
            Fewer than 2 frames, or no admissible path.
        """
        n = self.n_frames
        if n < 2:
            raise ParameterError(f"need at least 2 frames to decode, got {n}")
        dk = min(self.max_frames, n)
        pos = n - self._base
        cum_n = self._cum[pos]
        cand = (self._best[pos - dk:pos][::-1] + self._logs[:dk]
                + (cum_n - self._cum[pos - dk:pos][::-1]))
        if n <= self.max_frames:                        # one segment covering everything
            cand[n - 1] = self._init[n - 1] + cum_n
        arg = np.argmax(cand, axis=0)
        final = cand[arg, np.arange(_N)]
        j = int(np.argmax(final))
        score = float(final[j])
        if not np.isfinite(score):
            raise ParameterError("no state sequence is possible with these emissions and "
                                 "durations")
        back = self._back[0] if len(self._back) == 1 else np.concatenate(self._back)
        states = np.empty(n, dtype=np.int8)
        k, d = n, int(arg[j]) + 1
        while True:
            states[k - d:k] = j + 1
            k -= d
            if k <= 0:
                break
            j = int(PREDECESSOR[j])
            d = int(back[k - 1, j])                     # row k - 1 holds back[k]
        return states, score


def _window_diffs(run: np.ndarray, rows: np.ndarray, i0: int, i1: int, d: int
                  ) -> np.ndarray:
    """``cum[k] - cum[r]`` for frames ``i0 .. i1 - 1`` of a block and the ``d`` rows ``r``
    of each one's window, oldest first [shape=(i1 - i0, d, 4)]: ``run[i + 1]`` minus
    ``rows[i .. i + d - 1]`` (see :meth:`ExtendedViterbi._window_rows`)."""
    win = np.lib.stride_tricks.sliding_window_view(rows[i0:i1 + d - 1], d, axis=0)
    out = np.empty((i1 - i0, d, _N))
    np.subtract(run[i0 + 1:i1 + 1, None, :], win.transpose(0, 2, 1), out=out)
    return out
