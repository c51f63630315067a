"""Fixed-length crops of a recording's features: the model inputs of the classifiers.

A recording's feature frames are cut into ``FrontendConfig.crop_frames``-frame crops
every ``crop_hop`` frames (a recording shorter than one crop is tiled); inference takes
them batch by batch as row indices (:func:`crop_rows`), training as arrays
(:func:`crops`). Inference cuts them from the frames outside the recording's stretches
without signal only (:func:`signal_rows`: the frames with signal joined end to end), and
puts per-frame results back on the whole grid with :func:`scatter_rows`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..quality_silence import signal_frames
from .frontend import FrontendConfig, frame_times

__all__ = ["crops", "crop_starts", "crop_rows", "signal_rows", "scatter_rows"]


def crops(features: np.ndarray, config: FrontendConfig = FrontendConfig(), *,
          hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a recording's features into fixed-length model inputs covering all of it.

    Parameters
    ----------
    features : np.ndarray [shape=(n_frames, n_mels)]
    config : FrontendConfig
    hop : int, optional
        Hop in frames between crops (default ``config.crop_hop``).

    Returns
    -------
    batch : np.ndarray [shape=(n_crops, crop_frames, n_mels), dtype=float32]
        Crops; a recording shorter than one crop is tiled to one crop. The last crop is
        aligned with the end of the recording so every frame is covered.
    starts : np.ndarray [shape=(n_crops,), dtype=int]
        First frame of each crop (frames of a tiled crop beyond ``n_frames`` wrap round).
    """
    f = np.asarray(features, dtype=np.float32)
    st = crop_starts(f.shape[0], config, hop=hop)
    return f[crop_rows(st, f.shape[0], config.crop_frames)], st


def crop_starts(n: int, config: FrontendConfig = FrontendConfig(), *,
                hop: int | None = None) -> np.ndarray:
    """First frame of each crop of :func:`crops` for ``n`` frames.

    Returns
    -------
    np.ndarray [shape=(n_crops,), dtype=int]
        Every ``hop`` frames (default ``config.crop_hop``), the last one aligned with the
        end; ``[0]`` when ``n <= config.crop_frames`` (one tiled crop).
    """
    L = config.crop_frames
    hop = config.crop_hop if hop is None else int(hop)
    if n == 0:
        raise ParameterError("no frames to crop")
    if n <= L:
        return np.array([0])
    starts = list(range(0, n - L + 1, hop))
    if starts[-1] != n - L:
        starts.append(n - L)
    return np.array(starts)


def crop_rows(starts: np.ndarray, n: int, crop_frames: int) -> np.ndarray:
    """Frame index of every row of the crops starting at ``starts``.

    Returns
    -------
    np.ndarray [shape=(len(starts), crop_frames), dtype=int]
        ``features[rows]`` is the crop batch; frames beyond ``n`` wrap round (a recording
        shorter than one crop is tiled).
    """
    return (np.asarray(starts, dtype=int)[:, None] + np.arange(crop_frames)) % n


def signal_rows(no_signal: list[tuple[float, float]] | None, n: int,
                config: FrontendConfig = FrontendConfig()) -> np.ndarray | None:
    """The frames of an ``n``-frame grid (:func:`~.frontend.frame_times`) whose centre
    lies outside every stretch of ``no_signal``
    (:func:`heartsound.quality_silence.no_signal_spans`).

    Returns
    -------
    np.ndarray [shape=(n_signal,), dtype=int] or None
        Their indices in order; None when there is no stretch, or no frame outside one:
        every frame is read.
    """
    keep = signal_frames(frame_times(n, config), no_signal)
    return None if keep is None or keep.all() else np.flatnonzero(keep)


def scatter_rows(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """``values`` [shape=(len(rows), ...)] placed at ``rows`` of an array of ``n`` rows,
    zero elsewhere (same dtype) [shape=(n, ...)]."""
    out = np.zeros((n, *values.shape[1:]), values.dtype)
    out[rows] = values
    return out
