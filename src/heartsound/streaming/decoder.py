"""Fixed-lag decoding of the segmentation HSMM: events, once emitted, are final.

:class:`FixedLagDecoder` runs the forward pass of the offline decoder
(:class:`heartsound.segmentation.viterbi.ExtendedViterbi`, the same duration model and
emissions) as frames arrive. After each block it backtracks the best path of the frames
so far (:meth:`~heartsound.segmentation.viterbi.ExtendedViterbi.finish`, which leaves the
forward state unchanged) and emits the S1 and S2 of that path that follow the last
emitted one and end at least ``lag`` frames before the newest frame. Emitting a sound
*commits* the path up to its offset: every later path must continue it, with the state
that follows the sound (systole after S1, diastole after S2) beginning exactly at that
frame. So nothing emitted is ever contradicted.

Committing does not restart the forward pass. The best path through a segment boundary
is the best path to it followed by the best path from it (the semi-Markov property), so
when the best path of all the frames so far goes through the committed boundary, its
continuation is the best committed one. Only when it does not (rare with a lag of a
few tenths of a second) is the forward pass restarted at the commit (the state after it
beginning there: :class:`_StartedViterbi`) and the frames since pushed again; and also
when a new duration model differs materially from the running one (a heart-rate change),
or when the pass has run :data:`MAX_SPAN_FRAMES` past its start (so the back pointers
held and each backtrack's cost stay bounded, whatever the stream's length); these two
are done after the block's commits, so that fewer frames are pushed again.

Compared with the offline decoder, which scores every path over the whole recording,
a committed boundary is never revised by later evidence: with a lag of a few tenths of a
second the best path rarely changes that far back.
"""

from __future__ import annotations

import numpy as np

from ..segmentation.hsmm import DurationModel
from ..segmentation.viterbi import ExtendedViterbi
from ..vocab import S1, S2

__all__ = ["NEXT_STATE", "FixedLagDecoder"]

#: The state (1..4) that follows each sound.
NEXT_STATE = {S1: 2, S2: 4}
#: Relative heart-rate change of the duration model that restarts the forward pass.
RATE_TOLERANCE = 0.02
#: Systolic-interval change (s) of the duration model that restarts the forward pass.
SYSTOLE_TOLERANCE_S = 0.01
#: Frames from the forward pass's start to the last commit that restart it (bounds the
#: back pointers kept and the cost of each backtrack).
MAX_SPAN_FRAMES = 250


class _StartedViterbi(ExtendedViterbi):
    """An :class:`ExtendedViterbi` whose first segment is of one given state and begins at
    frame 0 (a committed boundary), so its duration is scored with the full duration
    distribution instead of the residual-life prior.

    When one segment covers every frame so far, :meth:`finish` scores it with the
    probability that the state lasts at least that long, as for any segment cut by the
    last frame.
    """

    def __init__(self, durations: DurationModel, state: int) -> None:
        super().__init__(durations)
        init = np.full_like(self._init, -np.inf)
        init[:, state - 1] = self._logp[:, state - 1]
        self._init = init
        self._cut_init = np.full_like(init, -np.inf)
        self._cut_init[:, state - 1] = self._logs[:, state - 1]

    def finish(self) -> tuple[np.ndarray, float]:
        init, self._init = self._init, self._cut_init
        try:
            return super().finish()
        finally:
            self._init = init


class FixedLagDecoder:
    """Fixed-lag HSMM decoder of a stream of emission log-likelihoods.

    Parameters
    ----------
    lag_frames : int
        An event is emitted once its offset is at least this many frames old.

    Attributes
    ----------
    n_frames : int
        Frames pushed so far (absolute frame index of the next one).
    n_restarts : int
        Times the forward pass was restarted at a commit (each re-pushes the frames
        since it).
    """

    def __init__(self, lag_frames: int) -> None:
        self.lag = int(lag_frames)
        self.n_frames = 0
        self.n_restarts = 0
        self._start = 0                          # absolute frame of the forward pass's row 0
        self._commit = 0                         # absolute frame of the last commit
        self._state: int | None = None           # state beginning at the commit (None: free)
        self._emis = np.zeros((0, 4))            # emissions since self._start
        self._model: DurationModel | None = None
        self._running: DurationModel | None = None
        self._viterbi: ExtendedViterbi | None = None

    @property
    def model(self) -> DurationModel | None:
        return self._model

    def set_model(self, durations: DurationModel) -> None:
        """Use ``durations`` from the next restart on (at once if decoding has not begun);
        a model whose heart rate or systolic interval differs materially from the running
        one's (:data:`RATE_TOLERANCE`, :data:`SYSTOLE_TOLERANCE_S`) forces a restart at
        the next commit."""
        self._model = durations
        if self._viterbi is None:
            self._restart()

    def _restart(self) -> None:
        """Restart the forward pass at the last commit (state :attr:`_state` beginning
        there) with the current model, and push the frames since."""
        assert self._model is not None
        self._emis = self._emis[self._commit - self._start:]
        self._start = self._commit
        v = ExtendedViterbi(self._model) if self._state is None else \
            _StartedViterbi(self._model, self._state)
        if self._emis.shape[0]:
            v.push(self._emis)
        self._viterbi, self._running = v, self._model
        self.n_restarts += 1

    def _stale(self) -> bool:
        """The running model is materially out of date, or the forward pass is long."""
        new, old = self._model, self._running
        assert new is not None and old is not None
        if self._commit - self._start > MAX_SPAN_FRAMES:
            return True
        if new is old:
            return False
        return (abs(new.heart_rate_bpm / old.heart_rate_bpm - 1.0) > RATE_TOLERANCE
                or abs(new.systolic_interval_s - old.systolic_interval_s) > SYSTOLE_TOLERANCE_S)

    def push(self, loglik: np.ndarray, *, final: bool = False) -> list[tuple[int, int, int]]:
        """Append emissions ``[m, 4]``; return the newly confirmed sounds.

        Parameters
        ----------
        loglik : np.ndarray [shape=(m, 4)]
            ``log b_j(o_t)`` of the next frames.
        final : bool
            The stream ended: emit every remaining sound (the last one may be cut).

        Returns
        -------
        list of (state, onset_frame, offset_frame)
            ``state`` 1 (S1) or 3 (S2); frames absolute, offset exclusive; time order.
        """
        e = np.asarray(loglik, dtype=np.float64).reshape(-1, 4)
        self._emis = np.concatenate([self._emis, e])
        self.n_frames += e.shape[0]
        if self._viterbi is None:
            return []
        if e.shape[0]:
            self._viterbi.push(e)
        out: list[tuple[int, int, int]] = []
        while self.n_frames - self._commit >= 2:
            states, _ = self._viterbi.finish()
            r = self._commit - self._start
            if r and not (states[r] != states[r - 1] and states[r] == self._state):
                self._restart()                 # the best path left the commit: constrain it
                continue
            found = self._sounds(states, r, final)
            for st, on, off in found:
                out.append((st, self._start + on, self._start + off))
                self._commit, self._state = self._start + off, NEXT_STATE[st]
            break
        if self._stale():       # after the commits: fewer frames to push again
            self._restart()
        return out

    def _sounds(self, states: np.ndarray, r: int, final: bool) -> list[tuple[int, int, int]]:
        """The sounds of the best path ``states`` (frames since the forward pass's start)
        from frame ``r`` on that end ``lag`` frames before the newest frame or earlier
        (any if ``final``), as (state, onset, offset)."""
        n = states.size
        limit = n if final else n - self.lag
        change = np.flatnonzero(np.diff(states[r:])) + r + 1
        out = []
        for a, b in zip([r] + change.tolist(), change.tolist() + [n]):
            if b > limit:
                break
            st = int(states[a])
            if st in (S1, S2):
                out.append((st, a, b))
        return out
