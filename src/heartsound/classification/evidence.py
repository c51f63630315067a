"""Which cardiac phase a decision rests on, measured by occlusion rather than read off
the attention map.

The attention map says where the pooling layer put weight; it does not say what the
decision would be without that part of the recording (on the synthetic systolic-murmur
example the murmur model's attention in systole was 1.01x its share of time). Occlusion
asks the model directly: for each phase (S1, systole, S2, diastole) of the recording's
segmentation, the log-Mel frames of that phase are replaced by the recording's background
level (per Mel band, the 10th percentile over frames: the quiet floor), blended by each
frame's share in the phase (:func:`~heartsound.classification.frontend.phase_shares`),
the phase channels left as they are, and the decision score (P(abnormal), P(Present),
P(mild or worse)) recomputed. A phase whose removal lowers the score holds evidence for
the label; the ``share`` of each phase in the total drop is compared with the phase's
share of the segmented time (``time_share``, chance): ``ratio`` > 1 means more evidence
than its duration explains.

What it does not say: occlusion removes a phase's sound everywhere at once, so evidence
that needs two phases together (e.g. a murmur judged relative to S1) is split or lost; a
phase whose removal raises the score shows ``drop`` < 0 and share 0; the measure is only
as good as the segmentation it masks (a missed S2 moves systole's evidence to diastole).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .frontend import FrontendConfig, shares_of
from ..vocab import STATES

__all__ = ["occlusion_by_phase", "mask_phase", "background", "blend", "BACKGROUND_PERCENTILE"]

#: Per-band percentile over frames used as the level an occluded frame is set to.
BACKGROUND_PERCENTILE = 10.0


def mask_phase(features: np.ndarray, shares: np.ndarray, phase: int, n_mels: int
               ) -> np.ndarray:
    """``features`` with phase ``phase``'s log-Mel frames blended to the background.

    Parameters
    ----------
    features : np.ndarray [shape=(n_frames, n_features)]
        Model input (log-Mel bands first, then any phase channels, left unchanged).
    shares : np.ndarray [shape=(n_frames, 4)]
        Share of each frame in S1, systole, S2, diastole.
    phase : int
        Column of ``shares`` (0 S1, 1 systole, 2 S2, 3 diastole).
    n_mels : int

    Returns
    -------
    np.ndarray [shape=(n_frames, n_features), dtype=float32]
    """
    f = np.array(features, dtype=np.float32)
    return blend(f, shares[:, phase:phase + 1], background(f, n_mels), n_mels)


def background(features: np.ndarray, n_mels: int) -> np.ndarray:
    """Per Mel band, the :data:`BACKGROUND_PERCENTILE` over frames [shape=(n_mels,),
    float32] of ``features`` [shape=(n_frames, n_features)]."""
    mel = np.asarray(features[:, :n_mels], dtype=np.float32)
    return np.percentile(mel, BACKGROUND_PERCENTILE, axis=0).astype(np.float32)


def blend(f: np.ndarray, w: np.ndarray, bg: np.ndarray, n_mels: int) -> np.ndarray:
    """Blend, in place, the log-Mel bands of float32 rows ``f`` [shape=(..., n_features)]
    to ``bg`` [shape=(n_mels,)] by weights ``w`` [shape=(..., 1)]; returns ``f``."""
    w = np.asarray(w, dtype=np.float32)
    f[..., :n_mels] = f[..., :n_mels] * (1.0 - w) + bg * w
    return f


def occlusion_by_phase(features: np.ndarray, segmentation: Any, config: FrontendConfig,
                       score: Callable[[np.ndarray], float], score_name: str,
                       full: float | None = None, *,
                       score_masked: Callable[[np.ndarray, np.ndarray], float] | None = None,
                       rows: np.ndarray | None = None, n_frames: int | None = None
                       ) -> dict[str, Any] | None:
    """The change of a decision score when each cardiac phase is occluded.

    Parameters
    ----------
    features : np.ndarray [shape=(n_frames, n_features)]
        The recording's model input.
    segmentation : Segmentation
        Its S1/systole/S2/diastole states.
    config : FrontendConfig
        The model's front end (frame grid, ``n_mels``).
    score : callable
        Model input [shape=(n_frames, n_features)] -> decision score in [0, 1].
    score_name : str
        E.g. ``"P(Present)"``.
    full : float, optional
        ``score(features)`` when the caller has it.
    score_masked : callable, optional
        ``(w, bg) ->`` the score of ``features`` with each frame's log-Mel blended to
        ``bg`` [shape=(n_mels,)] by ``w`` [shape=(n_frames, 1)] (:func:`blend`); used
        instead of ``score(mask_phase(...))`` so the caller can mask crop by crop.
    rows, n_frames : np.ndarray [shape=(n_frames_read,)] and int, optional
        ``features`` are the frames ``rows`` of an ``n_frames``-frame grid (the frames
        outside the stretches without signal, :func:`~.crops.signal_rows`): the phases
        and their time shares are those of these frames. Default: all frames.

    Returns
    -------
    dict or None
        ``method`` ("occlusion"), ``score`` (its name), ``full`` (score of the intact
        input) and per phase ``{masked, drop, share, time_share, ratio}``: ``drop = full -
        masked``; ``share`` = the phase's positive drop over the sum of positive drops
        (None when no phase lowers the score); ``time_share`` = the phase's share of the
        segmented frames (chance); ``ratio = share / time_share``. None when the
        segmentation holds no phase.
    """
    n = len(features) if rows is None or n_frames is None else int(n_frames)
    shares = shares_of(np.asarray(segmentation.states), float(segmentation.frame_rate),
                       n, config)
    shares = shares if rows is None else shares[rows]
    time = shares.sum(axis=0).astype(np.float64)
    if time.sum() <= 0:
        return None
    time /= time.sum()
    full = float(score(features)) if full is None else float(full)
    if score_masked is None:
        masked = np.array([score(mask_phase(features, shares, k, config.n_mels))
                           for k in range(len(STATES))], dtype=np.float64)
    else:  # the caller masks batch by batch: no whole masked copy per phase
        bg = background(features, config.n_mels)
        masked = np.array([score_masked(shares[:, k:k + 1], bg)
                           for k in range(len(STATES))], dtype=np.float64)
    drop = full - masked
    pos = np.clip(drop, 0.0, None)
    total = float(pos.sum())
    out: dict[str, Any] = {"method": "occlusion", "score": score_name, "full": full}
    for k, name in enumerate(STATES):
        share = float(pos[k] / total) if total > 0 else None
        out[name] = {"masked": float(masked[k]), "drop": float(drop[k]), "share": share,
                     "time_share": float(time[k]),
                     "ratio": (share / time[k]) if share is not None and time[k] > 0
                     else None}
    return out
