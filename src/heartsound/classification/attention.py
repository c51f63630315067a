"""Explaining a classification: attention maps stitched over a whole recording and their
share in each cardiac phase.

The attention branch of the global attention pooling head (Ren et al. 2022) gives, per
crop, non-negative weights summing to one over the pooled time x frequency map (RNN: over
time). :func:`stitch` brings them back to the front-end frame grid of the whole recording;
:func:`attention_by_phase` sums them inside the S1, systole, S2 and diastole intervals of a
:class:`~heartsound.segmentation.result.Segmentation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..vocab import STATES

__all__ = ["stitch", "attention_by_phase", "PHASES"]

#: Phases reported by :func:`attention_by_phase` (state codes 1..4, 0 = unsegmented).
PHASES = STATES
#: Crops upsampled at once by :func:`stitch` (bounds its float64 temporaries).
_CROP_CHUNK = 64


def _upsample(a: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Spread each pooled cell over the frames it covers (nearest neighbour), keeping the
    cell's mass: every frame gets the cell value divided by the number of frames."""
    m = a.shape[axis]
    idx = np.minimum((np.arange(n) * m) // n, m - 1)
    counts = np.bincount(idx, minlength=m).astype(np.float64)
    out = np.take(a, idx, axis=axis)
    shape = [1] * a.ndim
    shape[axis] = n
    return out / counts[idx].reshape(shape)


def _accumulate(total: np.ndarray, cover: np.ndarray, ups: np.ndarray, starts: np.ndarray,
                n_frames: int, crop_frames: int) -> None:
    """Add each upsampled crop of ``ups`` to ``total`` and 1 to ``cover`` on its frames,
    crop after crop."""
    if n_frames < crop_frames:  # tiled input: a crop's frames repeat, accumulate each
        for up, s in zip(ups, starts):
            frames = (s + np.arange(crop_frames)) % n_frames
            np.add.at(total, frames, up)
            np.add.at(cover, frames, 1.0)
        return
    for up, s in zip(ups, starts):  # distinct frames: np.add.at's sums, without its loop
        total[s:s + crop_frames] += up
        cover[s:s + crop_frames] += 1.0


def stitch(maps: np.ndarray, starts: np.ndarray, n_frames: int, crop_frames: int,
           n_mels: int | None = None) -> np.ndarray:
    """Stitch per-crop attention maps into one map over the recording.

    Parameters
    ----------
    maps : np.ndarray [shape=(n_crops, t, f)] or [shape=(n_crops, t)]
        Attention of one class on each crop's pooled grid (each crop sums to one).
    starts : np.ndarray [shape=(n_crops,)]
        First frame of each crop.
    n_frames : int
        Frames in the recording.
    crop_frames : int
        Frames per crop.
    n_mels : int, optional
        Mel bands to upsample the frequency axis to (default 64).

    Returns
    -------
    np.ndarray [shape=(n_frames, n_mels), dtype=float32] or [shape=(n_frames,)]
        Non-negative, sums to one. Overlapping crops are averaged frame by frame; a
        recording shorter than one crop (tiled at input) folds the tiles back onto its
        frames.
    """
    maps = np.clip(np.asarray(maps, dtype=np.float64), 0.0, None)
    two_d = maps.ndim == 3
    n_mels = 64 if n_mels is None else n_mels
    # a time x frequency map is accumulated in float32: half the memory of a long
    # recording's map (each crop's upsampled share is computed in float64)
    total = np.zeros((n_frames, n_mels), np.float32) if two_d else np.zeros(n_frames)
    cover = np.zeros(n_frames)
    starts = np.asarray(starts, dtype=int)
    for c in range(0, len(maps), _CROP_CHUNK):  # crops upsampled a chunk at a time
        ups = _upsample(maps[c:c + _CROP_CHUNK], crop_frames, 1)
        if two_d:
            ups = _upsample(ups, n_mels, 2)
        _accumulate(total, cover, ups, starts[c:c + _CROP_CHUNK], n_frames, crop_frames)
    cover = np.maximum(cover, 1.0)
    total /= cover[:, None] if two_d else cover  # in place: no full-size temporaries
    s = total.sum()
    if s > 0:
        total /= s
        return total
    return np.full(total.shape, 1.0 / total.size, dtype=total.dtype)


def attention_by_phase(attention: np.ndarray, times_s: np.ndarray, segmentation: Any, *,
                       signal: np.ndarray | None = None) -> dict[str, float]:
    """Share of attention falling in each cardiac phase.

    Parameters
    ----------
    attention : np.ndarray [shape=(n_frames, n_mels)] or [shape=(n_frames,)]
        Stitched attention (summed over frequency when 2-D).
    times_s : np.ndarray [shape=(n_frames,)]
        Centre time of each attention frame in seconds.
    segmentation : Segmentation
        States per frame at ``segmentation.frame_rate``.
    signal : np.ndarray [shape=(n_read,), dtype=int], optional
        The attention frames the model read (outside the stretches without signal,
        ``ClassificationResult.signal_frames``): the time shares count only the
        segmentation frames of these (default: all).

    Returns
    -------
    dict
        ``S1``, ``systole``, ``S2``, ``diastole`` and ``unsegmented`` shares (summing to
        one), and ``*_ratio`` entries: each phase's share divided by its share of time,
        so 1.0 means "no more attention than its duration explains".

    Notes
    -----
    Each attention frame covers ``hop`` seconds (64 ms at the defaults); the share of a
    frame is split over the states of the segmentation frames (20 ms at 50 Hz) inside it.
    """
    a = np.asarray(attention)
    # summed over frequency without a float64 copy of a time x frequency map
    a = a.sum(axis=1, dtype=np.float64) if a.ndim == 2 else a.astype(np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    st = np.asarray(segmentation.states).astype(int)
    fr = float(segmentation.frame_rate)
    seg_t = (np.arange(st.size) + 0.5) / fr
    # assign each segmentation frame to the nearest attention frame
    if t.size > 1:
        edges = 0.5 * (t[1:] + t[:-1])
        owner = np.searchsorted(edges, seg_t)
    else:
        owner = np.zeros(st.size, dtype=int)
    owner = np.clip(owner, 0, t.size - 1)
    per_frame = np.bincount(owner, minlength=t.size).astype(np.float64)
    share = np.zeros(5)
    read = None if signal is None else np.isin(owner, signal).astype(np.float64)
    time_share = np.bincount(np.clip(st, 0, 4), weights=read, minlength=5).astype(np.float64)
    w = a[owner] / np.maximum(per_frame[owner], 1.0)
    np.add.at(share, np.clip(st, 0, 4), w)
    covered = a[per_frame > 0].sum()
    # attention frames with no segmentation frame (beyond its end) count as unsegmented
    share[0] += max(0.0, a.sum() - covered)
    tot = share.sum()
    share = share / tot if tot > 0 else share
    time_share = time_share / max(time_share.sum(), 1.0)
    out = {"unsegmented": float(share[0])}
    for k, name in enumerate(PHASES, start=1):
        out[name] = float(share[k])
    for k, name in enumerate(PHASES, start=1):
        out[f"{name}_ratio"] = float(share[k] / time_share[k]) if time_share[k] > 0 else None
    return out
