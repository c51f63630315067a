"""What the report figure and the segmentation figure show, apart from how they are drawn.

Both renderers read this module: the matplotlib panels (:mod:`.panels`, :func:`.plot`,
:func:`heartsound.segmentation.plot.segmentation_figure`) and the Pillow raster
(:mod:`.raster_report`, which writes the PNGs without importing matplotlib). Here are the
texts (titles, caveats, legends), the choice of which classifier's attention goes where,
the data reduced to the pixels (waveform envelope, pooled spectrograms, attention
curves), the probability rows and the layouts of both figures; nothing here draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..serialize import display_text
from ..vocab import DIASTOLE, S1, S2, SYSTOLE
from .bars import (UNAVAILABLE_TEXT, VALUE_GAP, VALUE_TEXT_WIDTH, ProbabilityPanel, empty_text,
                   probability_panel)

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Analysis

__all__ = ["PHASE_COLOURS", "PHASE_ALPHA", "GRID", "FIGSIZE", "title_text", "caveat_lines",
           "attention_results", "curve_label", "attention_title", "phase_spans",
           "minmax_envelope", "attention_curve", "pool_frames", "scaled_curve",
           "spectrogram_db", "spectrogram_input", "SPECTROGRAM_SR", "empty_text",
           "attention_image", "cell_edges", "ProbabilityPanel",
           "probability_panel", "grid_boxes", "SEGMENTATION_FIGSIZE", "SEGMENTATION_ADJUST",
           "segmentation_title", "short_name", "reference_colour", "UNAVAILABLE_TEXT",
           "VALUE_TEXT_WIDTH", "VALUE_GAP", "REFERENCE_MARKER_PT", "figure_box"]

#: Band colour of each state.
PHASE_COLOURS = {S1: "#d62728", SYSTOLE: "#ffbb78", S2: "#1f77b4", DIASTOLE: "#aec7e8"}
PHASE_ALPHA = {S1: 0.45, SYSTOLE: 0.25, S2: 0.45, DIASTOLE: 0.25}
#: Colour of the attention-over-time curve over the waveform and over a spectrogram.
TIMED_COLOUR, MAPPED_COLOUR = "#2ca02c", "white"
#: Upper y limit of the attention curve over the waveform and over a spectrogram (1.6
#: keeps it in the lower part of the panel).
TIMED_YLIM, MAPPED_YLIM = 1.05, 1.6
#: Levels (of the peak) and colour of the attention map's contours.
CONTOUR_LEVELS, CONTOUR_COLOUR = (0.5, 0.8), "#00e5ff"
#: Report figure size (inches) and its grid (matplotlib ``GridSpec`` keywords, figure
#: fractions): waveform, spectrogram, one probability panel per task.
FIGSIZE = (11.0, 8.5)
GRID = {"height_ratios": (1.0, 1.2, 0.8), "hspace": 0.45, "wspace": 0.5, "left": 0.07,
        "right": 0.93, "top": 0.91, "bottom": 0.17}
#: The one-panel segmentation figure (``heartsound segment``): size (inches) and the
#: panel's edges (figure fractions, ``Figure.subplots_adjust`` keywords).
SEGMENTATION_FIGSIZE = (11.0, 3.0)
SEGMENTATION_ADJUST = {"left": 0.07, "right": 0.98, "top": 0.85, "bottom": 0.16}
#: zlib level of the PNGs (level 6, zlib's default, takes twice the time for a file
#: ~10 % smaller).
PNG_COMPRESS_LEVEL = 3
#: Task whose attention map is drawn, first available in this order.
_ATTENTION_PREFERENCE = ("murmur", "abnormal", "severity")
Rows = Iterable[tuple[float, float, int]]


#: Longest file name (characters) a figure title shows whole (:func:`short_name`): the
#: report title (10 pt) keeps its state on the 11 in line, the segmentation title
#: (9 pt, centred) stays clear of the legend.
NAME_CHARS = 44


def short_name(name: str, limit: int = NAME_CHARS) -> str:
    """``name`` shown in a figure title: as is up to ``limit`` characters, else its start
    and its end (the take number, the extension) around an ellipsis, ``limit`` long. A
    name that is not UTF-8 (lone surrogates) cannot be drawn: shown as ``\\xNN``."""
    name = display_text(name)
    if len(name) <= limit:
        return name
    tail = (limit - 1) // 3
    return f"{name[:limit - 1 - tail]}\u2026{name[-tail:]}"


def title_text(d: Mapping[str, Any]) -> str:
    """The report figure's title line from ``Analysis.to_dict()`` ``d`` (a long file name
    shortened by :func:`short_name`, so the line fits the figure)."""
    seg, q, hr = d["segmentation"], d["quality"], d["heart_rate_bpm"]
    title = f"{short_name(Path(d['source']).name)}: {d['duration_s']:.1f} s"
    if seg.get("method"):
        title += f", segmentation {seg['method']}, {d['n_cycles']} cycles"
    if hr is not None:
        title += f", {hr:.0f} bpm"
    return title + f"; quality {'usable' if q['usable'] else 'NOT usable'} ({q['score']:.2f})"


def segmentation_title(seg: Any) -> str:
    """The segmentation figure's default title: method, median heart rate and cycles of
    the :class:`~heartsound.Segmentation` ``seg``."""
    hr = seg.median_heart_rate_bpm
    return (f"{seg.method}: {'n/a' if hr is None else f'{hr:.0f}'} bpm, "
            f"{seg.intervals()['n_cycles']} cycles")


#: The waveform panel's y limits, times the waveform's peak.
WAVE_YMARGIN = 1.05
#: Size (points, matplotlib's ``markersize``) of a reference sound's triangle.
REFERENCE_MARKER_PT = 5.0


def reference_colour(sound: str) -> str:
    """Colour of a reference sound's mark: S1's band colour for ``"S1"``, else S2's."""
    return PHASE_COLOURS[S1 if sound == "S1" else S2]


def caveat_lines(d: Mapping[str, Any]) -> list[str]:
    """``<task>: <caveat>`` of each task whose decision has a caveat, after the
    recording's ``no_signal`` note (where the stretches without signal are; the analysis
    left them out)."""
    silent = ((d.get("quality") or {}).get("notes") or {}).get("no_signal")
    return ([f"note: {silent}"] if silent and d["classification"] else []) + [
        f"{t}: {c['decision']['caveat']}" for t, c in d["classification"].items()
        if (c.get("decision") or {}).get("caveat")]


def attention_results(analysis: Analysis) -> tuple[Any, Any]:
    """The preferred classifier with a time x frequency map (drawn over its spectrogram)
    and the preferred one with attention over time only (drawn over the waveform), of the
    tasks asked for (not a murmur run only for severity's gate)."""
    order = {t: i for i, t in enumerate(_ATTENTION_PREFERENCE)}
    ranked = [tr.result for tr in sorted(analysis.classification.values(),
                                         key=lambda tr: order.get(tr.task, len(order)))
              if tr.result is not None and not getattr(tr, "computed_for", None)]
    mapped = next((r for r in ranked if getattr(r, "spectrogram", None) is not None
                   and getattr(r, "attention_freqs_hz", None) is not None), None)
    timed = next((r for r in ranked if r is not mapped
                  and getattr(r, "attention_freqs_hz", None) is None), None)
    return mapped, timed


def _attention_label(result: Any) -> str:
    """The class a result's attention map is of (``attention_label``, else ``label``)."""
    return str(getattr(result, "attention_label", None) or result.label)


def curve_label(result: Any) -> str:
    """Legend entry of ``result``'s attention curve over the waveform."""
    return f"attention of the {result.task} classifier for '{_attention_label(result)}'"


def attention_title(result: Any, drawn: bool = True) -> str:
    """Title of the spectrogram panel with ``result``'s attention map; ``drawn`` False:
    the log-Mel alone, and why (an ungraded severity: its map is of a grade not
    reported). A map of another class than the reported label says so."""
    if not drawn:
        rule = str(getattr(getattr(result, "decision", None), "rule", "") or "")
        why = rule.split(" -> ")[0].split(" (")[0] or "no decision"
        return (f"log-Mel spectrogram the {result.task} classifier read; its attention is "
                f"not drawn: {result.task} not graded ({why})")
    own, label = _attention_label(result), result.label
    note = "" if label is None or own == str(label) else \
        f" (its most probable class; reported: '{label}')"
    return ("log-Mel spectrogram; cyan contours (50 %, 80 % of peak) and white curve: "
            f"attention of the {result.task} classifier for '{own}'{note}")


def phase_spans(rows: Rows) -> dict[int, list[tuple[float, float]]]:
    """``(start_s, width_s)`` of the rows of each state of :data:`PHASE_COLOURS`."""
    spans: dict[int, list[tuple[float, float]]] = {s: [] for s in PHASE_COLOURS}
    for a, b, s in rows:
        if s in spans:
            spans[s].append((a, b - a))
    return spans


def minmax_envelope(y: np.ndarray, sr: float, n_columns: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min and max of ``y`` over ``n_columns`` equal stretches (no copy of ``y``).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : float
        Sample rate in Hz.
    n_columns : int
        Columns wanted (pixels); the result has at most this many.

    Returns
    -------
    t, lo, hi : np.ndarray [shape=(m,)]
        Centre time (s), minimum and maximum of each stretch.
    """
    k = -(-y.size // max(1, n_columns))
    m = y.size // k
    body = y[: m * k].reshape(m, k)
    lo, hi = body.min(axis=1), body.max(axis=1)
    t = (np.arange(m) + 0.5) * k / sr
    if m * k < y.size:  # the short last stretch
        rest = y[m * k:]
        lo, hi = np.append(lo, rest.min()), np.append(hi, rest.max())
        t = np.append(t, (m * k + 0.5 * rest.size) / sr)
    return t, lo, hi


def attention_curve(result: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Attention over time of a :class:`~heartsound.ClassificationResult` as
    ``(times_s, weights)`` (a time x frequency map summed over frequency), or None."""
    att = getattr(result, "attention", None) if result is not None else None
    times = getattr(result, "attention_times_s", None) if result is not None else None
    if att is None or times is None:
        return None
    w = np.asarray(att)
    # summed over frequency without a float64 copy of a time x frequency map
    w = w.sum(axis=1, dtype=float) if w.ndim == 2 else w.astype(float, copy=False)
    t = np.asarray(times, dtype=float)
    if w.ndim != 1 or w.size == 0 or t.shape != w.shape:
        return None
    return t, w


def pool_frames(a: np.ndarray, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over groups of rows of ``a`` [shape=(n_frames, ...)] and of their times ``t``
    so at most ``n`` remain (float64; ``a`` is not copied when already short enough)."""
    a = np.asarray(a)
    k = -(-len(t) // max(1, n))
    if k <= 1:
        return a.astype(float, copy=False), t
    m = len(t) // k
    return (a[: m * k].reshape(m, k, *a.shape[1:]).mean(axis=1, dtype=float),
            t[: m * k].reshape(m, k).mean(axis=1))


def scaled_curve(result: Any, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`attention_curve` pooled to at most ``n`` points and scaled to its peak:
    ``(times_s, weights)``, or None."""
    curve = attention_curve(result)
    if curve is None:
        return None
    w, t = pool_frames(curve[1], curve[0], n)
    return t, w / (float(np.max(w)) or 1.0)


#: Rate (Hz) the plain spectrograms are computed at (:func:`spectrogram_input`).
SPECTROGRAM_SR = 2000


def spectrogram_input(y: np.ndarray, sr: float) -> tuple[np.ndarray, float]:
    """``(y, sr)`` resampled to :data:`SPECTROGRAM_SR` when faster, so that a 256-sample
    STFT window has 7.8 Hz bins whatever the recording's rate (at 44.1 kHz it would have
    172 Hz bins: five rows up to 800 Hz); slower input is returned as it is."""
    from ..resampling import resample

    if sr <= SPECTROGRAM_SR:
        return y, sr
    return resample(np.asarray(y), int(sr), SPECTROGRAM_SR), SPECTROGRAM_SR


def spectrogram_db(y: np.ndarray, sr: float, n: int, fmax: float = 800.0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """STFT spectrogram (256-sample Hann windows, half overlap) in dB up to ``fmax`` Hz,
    pooled to at most ``n`` frames, of :func:`spectrogram_input` (7.8 Hz bins at any rate).

    Returns
    -------
    times_s : np.ndarray [shape=(n_frames,)]
    freqs_hz : np.ndarray [shape=(n_freqs,)]
    db : np.ndarray [shape=(n_frames, n_freqs)]
    vmin, vmax : float
        Colour range: the 99.5th percentile and 60 dB under it.
    """
    from scipy.signal import spectrogram

    y, sr = spectrogram_input(y, sr)
    nper = min(256, len(y))
    f, ts, sxx = spectrogram(y, fs=sr, nperseg=nper, noverlap=nper // 2, window="hann")
    keep = f <= min(fmax, sr / 2)
    db, ts = pool_frames(10 * np.log10(sxx[keep].T + 1e-12), ts, n)
    vmax = float(np.percentile(db, 99.5))
    return ts, f[keep], db, vmax - 60, vmax


def attention_image(result: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  float, float, np.ndarray | None]:
    """The log-Mel spectrogram a classifier saw and its attention map, pooled to at most
    ``n`` frames.

    Returns
    -------
    times_s : np.ndarray [shape=(n_frames,)]
    freqs_hz : np.ndarray [shape=(n_mels,)]
        Band centres (band numbers when the result has none).
    spec : np.ndarray [shape=(n_frames, n_mels)]
    vmin, vmax : float
        Colour range: 1st and 99.5th percentiles of the frames above the spectrogram's
        floor (digital silence is one constant value: counted in, a silent stretch
        would set ``vmin`` and wash the recording's sounds out to the top colours).
    amap : np.ndarray [shape=(n_frames, n_mels)] or None
        The attention map scaled to its peak (None when it has no frequency axis or is
        all zero).
    """
    ts = np.asarray(result.attention_times_s, dtype=float)
    spec, tsp = pool_frames(result.spectrogram, ts, n)
    fs = result.attention_freqs_hz
    fs = np.arange(spec.shape[1]) if fs is None else np.asarray(fs, dtype=float)
    live = spec.max(axis=1) > spec.min()
    vmin, vmax = np.percentile(spec[live] if live.any() else spec, [1, 99.5])
    amap = np.asarray(result.attention)
    if amap.ndim == 2 and amap.max() > 0:
        amap = pool_frames(amap, ts, n)[0]
        amap = amap / amap.max()
    else:
        amap = None
    return tsp, fs, spec, float(vmin), float(vmax), amap


def cell_edges(centres: np.ndarray, lo: float | None = None,
               hi: float | None = None) -> np.ndarray:
    """Edges of the cells around ``centres`` [shape=(n,)] (midpoints, the ends half a
    step out, as matplotlib's ``shading="nearest"``), the first one moved out to ``lo``
    and the last to ``hi`` when they stop short of them (a spectrogram's frames are
    centred half a window in from the recording's ends; drawn to their centres' cells
    only, a short recording had blank strips at both ends): shape ``(n + 1,)``."""
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if lo is not None:
        e[0] = min(e[0], lo)
    if hi is not None:
        e[-1] = max(e[-1], hi)
    return e


def _cells(n: int, lo: float, hi: float, space: float,
           ratios: Iterable[float]) -> list[tuple[float, float]]:
    """``(start, end)`` of ``n`` cells between ``lo`` and ``hi`` as ``GridSpec`` lays
    them out (gaps ``space`` x the mean cell)."""
    cell = (hi - lo) / (n + space * (n - 1))
    r = np.asarray(list(ratios), dtype=float)
    sizes = r * cell * n / r.sum()
    out, at = [], lo
    for s in sizes:
        out.append((at, at + s))
        at += s + space * cell
    return out


def figure_box(adjust: Mapping[str, float], width: float, height: float
               ) -> tuple[float, float, float, float]:
    """Pixel box ``(x0, y0, x1, y1)`` (y down) of the one panel of a ``width`` x
    ``height`` px figure whose edges are ``adjust`` (figure fractions, y up, as
    :data:`SEGMENTATION_ADJUST`)."""
    return (adjust["left"] * width, (1 - adjust["top"]) * height,
            adjust["right"] * width, (1 - adjust["bottom"]) * height)


Box = tuple[float, float, float, float]


def grid_boxes(n_tasks: int, width: float, height: float,
               grid: Mapping[str, Any] = GRID) -> tuple[Box, Box, list[Box], Box | None]:
    """Pixel boxes ``(x0, y0, x1, y1)`` (y down) of the waveform, spectrogram and
    probability panels of the report figure ``width`` x ``height`` px laid out by
    ``grid`` (:data:`GRID`; with four rows, as :data:`.view.GRID_LONG`, the first is an
    overview strip, whose box comes last, else None)."""
    g = grid
    n_rows = len(g["height_ratios"])
    rows = _cells(n_rows, (1 - g["top"]) * height, (1 - g["bottom"]) * height, g["hspace"],
                  g["height_ratios"])
    n = max(1, n_tasks)
    cols = _cells(n, g["left"] * width, g["right"] * width, g["wspace"], [1.0] * n)
    full = (cols[0][0], cols[-1][1])
    boxes = [(full[0], r[0], full[1], r[1]) for r in rows]
    overview = boxes.pop(0) if n_rows == 4 else None
    return (boxes[0], boxes[1], [(a, rows[-1][0], b, rows[-1][1]) for a, b in cols[:n_tasks]],
            overview)
