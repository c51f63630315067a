"""What time range the report figure's waveform and spectrogram panels show, and what of
the attention is drawn there (read by both renderers, like :mod:`.scene`).

* **Long recordings** (over :data:`LONG_S`): cycles are 1-3 px wide on the whole
  recording, so the waveform and spectrogram panels show a :data:`ZOOM_S` window (the one
  holding the most attention of the classifier drawn, else the middle) and an overview
  strip above them shows the whole recording with that window boxed.
* **Stretches without signal** (:func:`heartsound.quality_silence.no_signal_spans`, the
  quality check's near-silence criterion): greyed and labelled "no signal"; no attention
  curve or contour is drawn over them (the models' attention values are unchanged, in
  the JSON too; a curve there would read as evidence found in silence).
* **A severity that was not graded** (no murmur): its attention map is of a grade that
  is not reported, so the spectrogram panel shows the log-Mel it read without it and
  says why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..quality_silence import no_signal_spans, signal_mask
from .scene import attention_curve, attention_results

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Analysis

__all__ = ["View", "figure_view", "LONG_S", "ZOOM_S", "GRID_LONG", "NO_SIGNAL_TEXT",
           "NO_SIGNAL_SHADE", "NO_SIGNAL_ALPHA", "WINDOW_COLOUR", "curve_pieces",
           "overview_title", "map_drawn", "signal_mask"]

#: Recordings longer than this (s) are drawn as an overview and a zoom.
LONG_S = 60.0
#: Length (s) of the zoom window.
ZOOM_S = 15.0
#: The report grid of a long recording (``GridSpec`` keywords, figure fractions):
#: overview strip, waveform, spectrogram, probability panels.
GRID_LONG = {"height_ratios": (0.4, 1.0, 1.0, 0.8), "hspace": 0.6, "wspace": 0.5,
             "left": 0.07, "right": 0.93, "top": 0.91, "bottom": 0.17}
#: Label, shade (alpha-blended colour) of a stretch without signal, and the colour of
#: the zoom window's box on the overview.
NO_SIGNAL_TEXT, NO_SIGNAL_SHADE, NO_SIGNAL_ALPHA = "no signal", "#000000", 0.12
WINDOW_COLOUR = "#ff7f0e"


@dataclass
class View:
    """The time range ``t0``-``t1`` (s) of the waveform and spectrogram panels of a
    recording of ``duration`` s; ``zoomed`` when that is a window of a long recording.
    ``y`` [shape=(m,)]: the samples in the range, the first at ``y_t0`` s; ``mapped`` and
    ``timed``: the classifiers whose attention is drawn (:func:`.scene.attention_results`)
    cut to the range; ``map_drawn``: whether ``mapped``'s attention is drawn (not for an
    ungraded severity, :func:`map_drawn`); ``no_signal``: ``(start_s, end_s)`` of the
    stretches without signal, over the whole recording; ``why``: a zoomed view's range and
    why it was chosen."""

    t0: float
    t1: float
    duration: float
    zoomed: bool
    y: np.ndarray
    y_t0: float
    mapped: Any = None
    timed: Any = None
    map_drawn: bool = True
    no_signal: list[tuple[float, float]] | None = None
    why: str = ""


def map_drawn(result: Any) -> bool:
    """Whether ``result``'s attention is drawn: not when its decision says it was not
    graded (severity without a murmur: the map is of a grade that was not reported)."""
    dec = getattr(result, "decision", None)
    return result is not None and getattr(dec, "graded", True) is not False


def curve_pieces(t: np.ndarray, w: np.ndarray, spans: list[tuple[float, float]] | None
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The runs of the curve ``(t, w)`` outside the stretches ``spans``, each drawn as
    its own line (none over the stretches), scaled to the largest value drawn."""
    keep = signal_mask(t, spans)
    if not keep.any():
        return []
    w = w / (float(np.max(w[keep])) or 1.0)
    edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0]))
    return [(t[a:b], w[a:b]) for a, b in zip(edges[::2], edges[1::2])]


def _window_start(result: Any, duration: float, spans: list[tuple[float, float]]
                  ) -> float | None:
    """Start (s) of the :data:`ZOOM_S` window holding the most of ``result``'s attention
    outside the stretches without signal (the middle one of equals, so a short peak is
    in the window's middle); None without attention there."""
    curve = attention_curve(result) if result is not None else None
    last = max(0.0, duration - ZOOM_S)
    if curve is None:
        return None
    t, w = curve
    w = np.where(signal_mask(t, spans), w, 0.0)
    if not w.any():
        return None
    cum = np.r_[0.0, np.cumsum(w)]
    starts = np.clip(t, 0.0, last)
    inside = cum[np.searchsorted(t, starts + ZOOM_S, side="left")] - \
        cum[np.searchsorted(t, starts, side="left")]
    best = np.flatnonzero(inside >= inside.max() * (1 - 1e-9))
    run = best[: int(np.argmax(np.diff(np.r_[best, best[-1] + 2]) > 1)) + 1]  # the first
    return float(starts[run[0]] + starts[run[-1]]) / 2


def _cut(result: Any, t0: float, t1: float) -> Any:
    """``result`` with its attention (and spectrogram) rows cut to the frames centred in
    ``[t0, t1]`` and one frame either side (so cells and curves reach the range's ends)."""
    if result is None:
        return None
    t = np.asarray(result.attention_times_s, dtype=float)
    a = max(0, int(np.searchsorted(t, t0, side="left")) - 1)
    b = min(t.size, int(np.searchsorted(t, t1, side="right")) + 1)
    spec = getattr(result, "spectrogram", None)
    return replace(result, attention=np.asarray(result.attention)[a:b],
                   attention_times_s=t[a:b],
                   spectrogram=None if spec is None else np.asarray(spec)[a:b])


def _attention_source(mapped: Any, timed: Any, drawn: bool) -> Any:
    """The classifier whose attention picks the zoom window: the map drawn, else the
    curve over the waveform."""
    return mapped if mapped is not None and drawn else timed


def figure_view(analysis: Analysis) -> View:
    """The :class:`View` of ``analysis``'s report figure."""
    rec = analysis.recording
    y = np.asarray(rec.y)
    duration = y.size / rec.sr
    spans = getattr(analysis, "no_signal_s", None)  # analyze() looked for them
    spans = no_signal_spans(y, rec.sr) if spans is None else list(spans)
    mapped, timed = attention_results(analysis)
    drawn = map_drawn(mapped)
    if duration <= LONG_S:
        return View(0.0, duration, duration, False, y, 0.0, mapped, timed, drawn, spans)
    source = _attention_source(mapped, timed, drawn)
    t0 = _window_start(source, duration, spans)
    why = f"the {ZOOM_S:.0f} s holding the most attention of the {getattr(source, 'task', '')} " \
        "classifier"
    if t0 is None:
        t0, why = max(0.0, duration - ZOOM_S) / 2, f"the middle {ZOOM_S:.0f} s"
    t1 = t0 + ZOOM_S
    i0, i1 = int(np.floor(t0 * rec.sr)), int(np.ceil(t1 * rec.sr))
    return View(t0, t1, duration, True, y[i0:i1], i0 / rec.sr, _cut(mapped, t0, t1),
                _cut(timed, t0, t1), drawn, spans, f"{t0:.1f}-{t1:.1f} s, {why}")


def overview_title(v: View) -> str:
    """Title of the overview strip of a zoomed view: the whole recording, and which
    window the panels below show, and why."""
    return f"whole recording ({v.duration:.0f} s); below: {v.why} (the box)"
