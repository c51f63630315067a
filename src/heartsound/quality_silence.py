"""Stretches of a recording that hold no signal, by the quality check's near-silence
criterion (:func:`quiet_frames`, the frames counted in ``quality.measures.quiet_share``).

:func:`no_signal_spans` gives the stretches (runs of quiet frames of at least
:data:`MIN_NO_SIGNAL_S`): the one definition every stage leaves out (a Bluetooth dropout
or a paused recording holds no information about the heart). The spike removal's median,
the segmenter's per-recording z-scores, the heart-sound presence share, the classifiers'
normalisation and crops (their attention is 0 there), the typicality profile and the
quality check's periodicity and spike measures are taken over the other frames only (the
quality check's ``quiet_share`` counts them: a mostly silent recording is still called
so), and the figures grey the stretches out. :func:`signal_mask` says which frames of a
stage's grid lie outside them (a frame belongs to a stretch when its centre does),
:func:`spans_of` keeps one recording's stretches on its
:class:`~heartsound.frontend.Frontend`, and :func:`no_signal_note` is the recording note
(``quality.notes.no_signal`` of the JSON). A recording without such a stretch is analysed
exactly as before (``docs/results/silent_gaps_s12.md``: with 10-12 s of digital silence
inserted into real recordings, the labels changed before and hold now).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .frontend import Frontend

__all__ = ["quiet_frames", "quiet_of", "no_signal_spans", "no_signal_note", "signal_mask",
           "signal_frames", "spans_of", "gaps_of", "FRAME_S", "QUIET_RATIO",
           "MIN_NO_SIGNAL_S"]

#: Frame length (s) of the near-silence measure.
FRAME_S = 0.02
#: A frame is near-silent when its RMS is at most this share of the 95th-percentile
#: frame RMS (-60 dB), or zero.
QUIET_RATIO = 1e-3
#: Shortest run of near-silent frames (s) reported as a stretch without signal.
MIN_NO_SIGNAL_S = 0.5


def quiet_frames(y: Any, sr: float) -> tuple[int, np.ndarray]:
    """The near-silent frames of ``y``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : float
        Sample rate in Hz.

    Returns
    -------
    frame_len : int
        Samples per frame (:data:`FRAME_S`, at least one); frame ``i`` covers samples
        ``i * frame_len`` to ``(i + 1) * frame_len`` (a short last stretch is left out).
    quiet : np.ndarray [shape=(n // frame_len,), dtype=bool]
        RMS at most :data:`QUIET_RATIO` x the 95th-percentile frame RMS, or zero.
    """
    y = np.asarray(y, dtype=float)
    fl = max(1, int(FRAME_S * sr))
    nf = y.size // fl
    if not nf:
        return fl, np.zeros(0, dtype=bool)
    rms = np.sqrt(np.mean(y[: nf * fl].reshape(nf, fl) ** 2, axis=1))
    return fl, (rms <= QUIET_RATIO * np.percentile(rms, 95)) | (rms == 0)


def no_signal_spans(y: Any, sr: float, *, min_s: float = MIN_NO_SIGNAL_S
                    ) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of each run of :func:`quiet_frames` lasting at least
    ``min_s`` seconds, in time order (empty for a recording without one)."""
    return _runs(*quiet_frames(y, sr), sr, min_s)


def _runs(fl: int, quiet: np.ndarray, sr: float, min_s: float) -> list[tuple[float, float]]:
    """The runs of ``quiet`` frames (``fl`` samples each) lasting at least ``min_s``."""
    if not quiet.any():
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0]))
    out = []
    for a, b in zip(edges[::2], edges[1::2]):
        if (b - a) * fl / sr >= min_s:
            out.append((float(a * fl / sr), float(b * fl / sr)))
    return out


def quiet_of(frontend: Frontend) -> tuple[int, np.ndarray]:
    """:func:`quiet_frames` of the recording of ``frontend``, computed once and kept on it
    (the quality check's ``quiet_share`` and :func:`spans_of` read the same frames)."""
    return frontend.cached(("quiet_frames",),
                           lambda: quiet_frames(frontend.y, frontend.sr))


def spans_of(frontend: Frontend) -> list[tuple[float, float]]:
    """:func:`no_signal_spans` of the recording of ``frontend``, found once and kept on it
    (until :meth:`~heartsound.frontend.Frontend.release`) for every stage that asks."""
    return frontend.cached(("no_signal_spans", MIN_NO_SIGNAL_S),
                           lambda: _runs(*quiet_of(frontend), frontend.sr, MIN_NO_SIGNAL_S))


def gaps_of(y: Any, sr: float, frontend: Frontend | None = None
            ) -> list[tuple[float, float]]:
    """The stretches without signal of a recording: :func:`spans_of` its front end when
    there is one, else :func:`no_signal_spans` of the samples ``y`` at ``sr``."""
    return spans_of(frontend) if frontend is not None else no_signal_spans(y, sr)


def signal_mask(times: Any, spans: list[tuple[float, float]] | None) -> np.ndarray:
    """True at each of ``times`` (s) [shape=(n,)] outside every span of ``spans``
    (a ``(start_s, end_s)`` span holds ``start_s <= t < end_s``)."""
    t = np.asarray(times, dtype=float)
    keep = np.ones(t.shape, dtype=bool)
    for a, b in spans or ():
        keep &= ~((t >= a) & (t < b))
    return keep


def signal_frames(times: Any, spans: list[tuple[float, float]] | None
                  ) -> np.ndarray | None:
    """:func:`signal_mask` of ``times`` [shape=(n,)], or None when there is nothing to
    leave out (no ``spans``) or nothing would be left (every time in one): the frames a
    per-recording statistic reads, None meaning all of them."""
    if not spans:
        return None
    keep = signal_mask(times, spans)
    return keep if keep.any() else None


def no_signal_note(spans: list[tuple[float, float]], duration_s: float) -> str | None:
    """The recording note of the stretches ``spans`` (:func:`no_signal_spans`) of a
    recording of ``duration_s`` seconds, or None when there are none."""
    if not spans:
        return None
    total = sum(b - a for a, b in spans)
    where = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in spans[:5])
    more = f" and {len(spans) - 5} more" if len(spans) > 5 else ""
    return (f"{total:.1f} s ({100 * total / max(duration_s, 1e-9):.0f}% of the recording) "
            f"hold no signal ({where}{more}); the segmentation, the classifiers and the "
            "typicality left them out (the quality check's silent share counts them)")
