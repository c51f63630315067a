"""The report figure and the segmentation figure as PNG, drawn with Pillow: the same
panels, texts and colours as :func:`heartsound.plotting.plot` and
:func:`heartsound.segmentation.plot.segmentation_figure` (what they show comes from
:mod:`.scene`), without importing matplotlib. The segmentation figure is the report's
waveform panel alone, with its time axis labelled.

The data are reduced to the panel's pixels first: the waveform to a min/max per pixel
column, the spectrogram to one colour (:data:`.colormap.MAGMA`) per pixel, the
attention map's contours to the pixels where it crosses each level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..vocab import STATE_NAMES
from .colormap import MAGMA, colour_index
from .raster import Canvas, Panel, rgb
from .raster_axes import auto_x, auto_y, frame, legend_row, title, x_axis, x_label, y_axis, \
    y_label
from .scene import (CONTOUR_COLOUR, CONTOUR_LEVELS, FIGSIZE, GRID, MAPPED_COLOUR,
                    MAPPED_YLIM, PHASE_ALPHA, PHASE_COLOURS, REFERENCE_MARKER_PT,
                    SEGMENTATION_ADJUST, SEGMENTATION_FIGSIZE, TIMED_COLOUR, TIMED_YLIM,
                    WAVE_YMARGIN, ProbabilityPanel, Rows, attention_image,
                    attention_title, caveat_lines, cell_edges, curve_label, figure_box,
                    grid_boxes, phase_spans, probability_panel, reference_colour,
                    scaled_curve, spectrogram_db, title_text)
from .view import (GRID_LONG, NO_SIGNAL_ALPHA, NO_SIGNAL_SHADE, NO_SIGNAL_TEXT, WINDOW_COLOUR,
                   View, curve_pieces, figure_view, overview_title, signal_mask)

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Analysis

__all__ = ["report_png", "segmentation_png"]

#: Widths (points) of the contour lines at :data:`.scene.CONTOUR_LEVELS`.
_CONTOUR_LW = (0.8, 1.4)
#: Hatch lines of an uncertain bar per inch (matplotlib's ``//`` is 15 px apart at 90 dpi).
_HATCH_PER_INCH = 6


def report_png(analysis: Analysis, d: Mapping[str, Any], *, dpi: float = 90) -> bytes:
    """The report figure of ``analysis`` (``d``: its ``to_dict()``) as PNG bytes,
    ``FIGSIZE`` inches at ``dpi`` (990 x 765 px at 90)."""
    width, height = round(FIGSIZE[0] * dpi), round(FIGSIZE[1] * dpi)
    v = figure_view(analysis)
    boxes = grid_boxes(len(d["classification"]), width, height,
                       GRID_LONG if v.zoomed else GRID)
    wave, spec = Panel.at(boxes[0]), Panel.at(boxes[1])
    sr = analysis.recording.sr
    c = Canvas(width, height, dpi)
    wave_px, spans = _waveform_pixels(wave, v.y, sr, d["segmentation"]["states"],
                                      t0=v.y_t0)
    _shade(wave_px, wave, v.no_signal)
    c.paste(wave_px, wave.x0, wave.y0)
    spec.xlim = wave.xlim
    c.paste(_spec_pixels(spec, v, sr, dpi), spec.x0, spec.y0)
    _wave_decor(c, wave, spans, v)
    _spec_decor(c, spec, v)
    if boxes[3] is not None:
        _overview(c, Panel.at(boxes[3]), np.asarray(analysis.recording.y), sr, v)
    for box, (task, tc) in zip(boxes[2], d["classification"].items()):
        _probabilities(c, Panel.at(box), probability_panel(task, tc))
    c.text(GRID["left"] * width, (1 - 0.985) * height, title_text(d), 10, va="top")
    caveats = caveat_lines(d)
    if caveats:
        c.text(GRID["left"] * width, (1 - 0.005) * height, "\n".join(caveats), 6.5,
               "#555555", va="bottom")
    return c.png()


def segmentation_png(y: np.ndarray, sr: float, rows: Rows, *, title_line: str = "",
                     reference: Iterable[tuple[str, float]] | None = None,
                     dpi: float = 90) -> bytes:
    """The one-panel segmentation figure as PNG bytes, :data:`.scene.SEGMENTATION_FIGSIZE`
    inches at ``dpi`` (990 x 270 px at 90): the report's waveform panel of ``y``
    [shape=(n,)] at ``sr`` Hz with the phase bands of ``rows`` (CirCor ``(start_s,
    end_s, state)``), legend and axes, the time axis labelled, ``title_line`` above it
    (none when empty) and ``(sound, time_s)`` ``reference`` sounds as triangles on the
    bands' bottom edge (:func:`heartsound.segmentation.plot.segmentation_png`)."""
    width = round(SEGMENTATION_FIGSIZE[0] * dpi)
    height = round(SEGMENTATION_FIGSIZE[1] * dpi)
    p = Panel.at(figure_box(SEGMENTATION_ADJUST, width, height))
    c = Canvas(width, height, dpi)
    pixels, spans = _waveform_pixels(p, np.asarray(y), sr, rows)
    c.paste(pixels, p.x0, p.y0)
    peak = p.ylim[1] / WAVE_YMARGIN
    for sound, time_s in reference or ():
        c.triangle(float(p.x(time_s)), float(p.y(-peak)), REFERENCE_MARKER_PT,
                   reference_colour(sound))
    _segmentation_axes(c, p, spans, time_labels=True)
    if title_line:
        title(c, p, title_line, 9)
    return c.png()


def _spec_pixels(p: Panel, v: View, sr: float, dpi: float) -> np.ndarray:
    """The spectrogram panel's pixels [shape=(p.height, p.width, 3), uint8]: the log-Mel
    of ``v.mapped`` with its attention contours (when drawn), else the STFT spectrogram
    of ``v.y``; sets ``p``'s y limits."""
    pixels = np.full((p.height, p.width, 3), 255, dtype=np.uint8)
    if v.mapped is not None:
        ts, fs, z, vmin, vmax, amap = attention_image(v.mapped, p.width)
        _image_pixels(pixels, p, ts, fs, z, vmin, vmax)
        if amap is not None and v.map_drawn:
            _contour_pixels(pixels, p, ts, fs, amap, dpi, v.no_signal)
    else:
        ts, fs, db, vmin, vmax = spectrogram_db(v.y, sr, p.width)
        _image_pixels(pixels, p, ts + v.y_t0, fs, db, vmin, vmax)
    return pixels


def _shade(pixels: np.ndarray, p: Panel, spans: list[tuple[float, float]] | None) -> None:
    """Blend :data:`.view.NO_SIGNAL_SHADE` over the columns of ``p``'s ``pixels`` whose
    centre is in a stretch of ``spans`` (no signal)."""
    cols = ~signal_mask(p.column_x(), spans)
    if cols.any():
        shade = np.asarray(rgb(NO_SIGNAL_SHADE), dtype=float)
        pixels[:, cols] = (pixels[:, cols] * (1 - NO_SIGNAL_ALPHA) + shade * NO_SIGNAL_ALPHA
                           + 0.5).astype(np.uint8)


def _no_signal_labels(c: Canvas, p: Panel, spans: list[tuple[float, float]] | None,
                      colour: str) -> None:
    """"no signal" centred in each stretch of ``spans`` wide enough on ``p`` for it."""
    w = c.text_box(NO_SIGNAL_TEXT, 7)[0]
    for a, b in spans or ():
        xa, xb = (float(p.x(max(a, p.xlim[0]))), float(p.x(min(b, p.xlim[1]))))
        if xb - xa > w + c.px(4):
            c.text((xa + xb) / 2, p.y0 + 0.2 * p.height, NO_SIGNAL_TEXT, 7, colour,
                   ha="center", va="center")


def _overview(c: Canvas, p: Panel, y: np.ndarray, sr: float, v: View) -> None:
    """The overview strip of a zoomed view: the whole waveform, the stretches without
    signal shaded, the zoom window boxed, the time axis and a title."""
    pixels, _ = _waveform_pixels(p, y, sr, [])
    _shade(pixels, p, v.no_signal)
    c.paste(pixels, p.x0, p.y0)
    lw = max(1, round(c.px(1.5)))
    c.draw.rectangle([round(float(p.x(v.t0))), p.y0, round(float(p.x(v.t1))), p.y1 - 1],
                     outline=rgb(WINDOW_COLOUR), width=lw)
    frame(c, p)
    x_axis(c, p, auto_x(c, p, 7), size_pt=7)
    title(c, p, overview_title(v), 8)


def _waveform_pixels(p: Panel, y: np.ndarray, sr: float, rows: Any, *, t0: float = 0.0
                     ) -> tuple[np.ndarray, dict[int, list[tuple[float, float]]]]:
    """The pixels [shape=(p.height, p.width, 3), uint8] of ``y`` (its first sample at
    ``t0`` s) drawn as a min/max per pixel column in ``p`` (setting its limits; over the
    samples each column covers, or interpolated between samples when there are fewer
    than 2 per column) with the phase bands over it (each state's colour blended with
    its :data:`.scene.PHASE_ALPHA` between the peaks), and the bands."""
    peak = (max(-float(y.min()), float(y.max())) if y.size else 0.0) or 1.0
    p.xlim = (t0, t0 + ((y.size / sr) or 1.0))
    p.ylim = (-WAVE_YMARGIN * peak, WAVE_YMARGIN * peak)
    r = np.arange(p.height)[:, None]
    if y.size:
        if y.size > 2 * p.width:  # sample i (at i / sr) is in column i * width // size
            first = -((-np.arange(p.width) * y.size) // p.width)
            top = p.y(np.maximum.reduceat(y, first)) - p.y0
            bottom = p.y(np.minimum.reduceat(y, first)) - p.y0
        else:
            t = t0 + np.arange(y.size) / sr
            top = bottom = np.interp(p.column_x(), t, p.y(y)) - p.y0
        # each column reaches its neighbours', as a line through the samples would
        top = np.minimum(top, np.minimum(_shift(bottom, 1), _shift(bottom, -1)))
        bottom = np.maximum(bottom, np.maximum(_shift(top, 1), _shift(top, -1)))
        ink = (r >= np.floor(top)) & (r <= np.floor(bottom))
    else:
        ink = np.zeros((p.height, p.width), dtype=bool)
    spans = phase_spans(rows)
    colour, alpha = _band_colours(p, spans)
    on_white = (255 * (1 - alpha) + colour * alpha + 0.5).astype(np.uint8)
    on_black = (colour * alpha + 0.5).astype(np.uint8)
    banded = ((r >= round(float(p.y(peak))) - p.y0)
              & (r < round(float(p.y(-peak))) - p.y0))[:, :, None]  # (height, 1, 1)
    white = np.where(banded, on_white[None], np.uint8(255))  # (height, width, 3)
    return np.where(ink[:, :, None], np.where(banded, on_black[None], np.uint8(0)),
                    white), spans


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` moved by ``k`` = +1 or -1 places, the end value repeated."""
    return np.r_[a[:1], a[:-1]] if k > 0 else np.r_[a[1:], a[-1:]]


def _band_colours(p: Panel, spans: Mapping[int, list[tuple[float, float]]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Colour [shape=(width, 3)] and alpha [shape=(width, 1)] of the band over each pixel
    column of ``p``: the state whose span holds the column's centre (alpha 0: none)."""
    starts, ends, colour, alpha = [], [], [], []
    for s, sp in spans.items():
        for a, w in sp:
            starts.append(a)
            ends.append(a + w)
            colour.append(rgb(PHASE_COLOURS[s]))
            alpha.append(PHASE_ALPHA[s])
    if not starts:
        return np.zeros((p.width, 3)), np.zeros((p.width, 1))
    order = np.argsort(starts, kind="stable")
    st, en = np.asarray(starts)[order], np.asarray(ends)[order]
    tc = p.column_x()
    i = np.clip(np.searchsorted(st, tc, side="right") - 1, 0, len(st) - 1)
    inside = (tc >= st[i]) & (tc < en[i])
    return (np.asarray(colour, dtype=float)[order][i],
            np.where(inside, np.asarray(alpha)[order][i], 0.0)[:, None])


def _image_pixels(pixels: np.ndarray, p: Panel, ts: np.ndarray, fs: np.ndarray,
                  z: np.ndarray, vmin: float, vmax: float) -> None:
    """``z`` [shape=(n_times, n_freqs)] as cells around ``ts`` x ``fs`` (matplotlib's
    ``shading="nearest"``) coloured with magma from ``vmin`` to ``vmax``, one lookup per
    pixel, on ``p``'s ``pixels`` [shape=(p.height, p.width, 3)]; sets ``p``'s y limits
    to the cells' edges."""
    et, ef = cell_edges(ts, *p.xlim), cell_edges(fs)
    p.ylim = (float(ef[0]), float(ef[-1]))
    ti = np.searchsorted(et, p.column_x(), side="right") - 1
    fi = np.searchsorted(ef, p.row_y(), side="right") - 1
    # the covered pixels form a rectangle (edges increase): columns c0:c1, rows r0:r1
    c0, c1 = np.searchsorted(ti, [0, len(ts)])
    r0, r1 = np.sort(len(fi) - np.searchsorted(fi[::-1], [0, len(fs)]))
    idx = colour_index(z, vmin, vmax).astype(np.uint8)
    idx = idx.take(ti[c0:c1], axis=0).take(fi[r0:r1], axis=1)
    pixels[r0:r1, c0:c1] = MAGMA.take(idx.T, axis=0)


def _lerp(a: np.ndarray, at: np.ndarray, axis: int) -> np.ndarray:
    """``a`` linearly interpolated at fractional indices ``at`` along ``axis``."""
    i = np.clip(np.floor(at).astype(np.intp), 0, a.shape[axis] - 2 if a.shape[axis] > 1 else 0)
    f = np.clip(at - i, 0.0, 1.0)
    lo, hi = np.take(a, i, axis=axis), np.take(a, np.minimum(i + 1, a.shape[axis] - 1), axis=axis)
    shape = [1] * a.ndim
    shape[axis] = -1
    f = f.reshape(shape)
    return lo * (1 - f) + hi * f


def _contour_pixels(pixels: np.ndarray, p: Panel, ts: np.ndarray, fs: np.ndarray,
                    amap: np.ndarray, dpi: float,
                    spans: list[tuple[float, float]] | None = None) -> None:
    """Contours of ``amap`` [shape=(n_times, n_freqs), peak 1] at
    :data:`.scene.CONTOUR_LEVELS` on ``p``'s ``pixels``: the pixels where the map,
    interpolated between cell centres, crosses each level (the wider line on both sides
    of the crossing, the thinner one on the side above the level), none in the columns
    over a stretch of ``spans`` (no signal)."""
    tc, fr = p.column_x(), p.row_y()  # fr decreases (top row first)
    c0 = int(np.searchsorted(tc, ts[0], side="left"))
    c1 = int(np.searchsorted(tc, ts[-1], side="right"))
    r0 = int(np.searchsorted(-fr, -fs[-1], side="left"))
    r1 = int(np.searchsorted(-fr, -fs[0], side="right"))
    if c1 - c0 < 2 or r1 - r0 < 2:
        return
    xi = np.interp(tc[c0:c1], ts, np.arange(len(ts)))
    yi = np.interp(fr[r0:r1], fs, np.arange(len(fs)))
    grid = _lerp(_lerp(amap.astype(np.float32), xi, 0), yi, 1).T  # (rows, columns)
    sub = pixels[r0:r1, c0:c1]
    silent = ~signal_mask(tc[c0:c1], spans)
    for level, lw in zip(CONTOUR_LEVELS, _CONTOUR_LW):
        above = grid >= level
        cx, cy = above[:, 1:] != above[:, :-1], above[1:] != above[:-1]
        edge = np.zeros_like(above)
        if lw * dpi / 72 >= 1.5:
            edge[:, 1:] |= cx
            edge[:, :-1] |= cx
            edge[1:] |= cy
            edge[:-1] |= cy
        else:
            edge[:, 1:] |= cx & above[:, 1:]
            edge[:, :-1] |= cx & above[:, :-1]
            edge[1:] |= cy & above[1:]
            edge[:-1] |= cy & above[:-1]
        edge[:, silent] = False
        sub[edge] = rgb(CONTOUR_COLOUR)


def _curve(c: Canvas, p: Panel, result: Any, colour: str, ylim: float,
           spans: list[tuple[float, float]] | None) -> bool:
    """The attention-over-time curve of ``result`` on a twin of ``p`` (y 0..``ylim``),
    with its right axis, not drawn over the stretches ``spans`` (no signal); False when
    ``result`` has none (nothing drawn)."""
    twin = Panel(p.x0, p.y0, p.x1, p.y1, p.xlim, (0.0, ylim))
    curve = scaled_curve(result, p.width)  # a point per pixel column
    if curve is None:
        return False
    for t, w in curve_pieces(*curve, spans):
        c.line(twin.x(t), twin.y(w), colour, 1.1)
    outer = y_axis(c, twin, [0.0, 0.5, 1.0], size_pt=7, side="right")
    y_label(c, twin, "attention (rel.)", outer, 8, side="right")
    return True


def _wave_decor(c: Canvas, p: Panel, spans: Mapping[int, list], v: View) -> None:
    """Axes, legends, the attention curve and the no-signal labels of the waveform
    panel."""
    timed = v.timed
    if timed is not None and _curve(c, p, timed, TIMED_COLOUR, TIMED_YLIM, v.no_signal):
        legend_row(c, p, [("line", TIMED_COLOUR, 1.0, curve_label(timed))], 7, corner="left")
    _no_signal_labels(c, p, v.no_signal, "#444444")
    # the spectrogram's time axis is below
    _segmentation_axes(c, p, spans, time_labels=False)


def _segmentation_axes(c: Canvas, p: Panel, spans: Mapping[int, list], *,
                       time_labels: bool) -> None:
    """Frame, axes and the phase legend of a waveform panel; the time axis labelled when
    ``time_labels``."""
    frame(c, p)
    bottom = x_axis(c, p, auto_x(c, p), show_labels=time_labels)
    if time_labels:
        x_label(c, p, "time (s)", bottom)
    y_label(c, p, "amplitude", y_axis(c, p, auto_y(c, p)))
    legend_row(c, p, [("patch", PHASE_COLOURS[s], PHASE_ALPHA[s], STATE_NAMES[s])
                      for s, sp in spans.items() if sp], 7, corner="right")


def _spec_decor(c: Canvas, p: Panel, v: View) -> None:
    """Axes, title, attention curve and no-signal labels of the spectrogram panel."""
    mapped = v.mapped
    if mapped is not None and v.map_drawn:
        _curve(c, p, mapped, MAPPED_COLOUR, MAPPED_YLIM, v.no_signal)
    _no_signal_labels(c, p, v.no_signal, "#bbbbbb")
    frame(c, p)
    x_label(c, p, "time (s)", x_axis(c, p, auto_x(c, p)))
    y_label(c, p, "frequency (Hz)", y_axis(c, p, auto_y(c, p)))
    title(c, p, "spectrogram" if mapped is None else attention_title(mapped, v.map_drawn), 9)


def _probabilities(c: Canvas, p: Panel, pp: ProbabilityPanel) -> None:
    """One task's probability panel (:func:`.scene.probability_panel`)."""
    title(c, p, pp.title, 9)
    if not pp.available:
        frame(c, p)
        c.text((p.x0 + p.x1) / 2, (p.y0 + p.y1) / 2, pp.empty_text, 9, "#777777",
               ha="center", va="center")
        return
    n = len(pp.names)
    marks = [pp.threshold[0] + s for s in (-0.45, 0.45)] if pp.threshold else []
    lo, hi = min([-0.4, *marks]), max([n - 0.6, *marks])
    m = 0.05 * (hi - lo)
    p.xlim, p.ylim = (0.0, 1.0), (hi + m, lo - m)  # first class at the top
    for i, (v, colour) in enumerate(zip(pp.values, pp.colours)):
        x0, x1, y0, y1 = float(p.x(0)), float(p.x(v)), float(p.y(i - 0.4)), float(p.y(i + 0.4))
        c.rect(x0, y0, x1, y1, colour)
        if pp.hatched:
            _hatch(c, x0, y0, x1, y1)
        c.text(float(p.x(pp.value_x(i, v))), float(p.y(i)), f"{v:.2f}", 8, va="center")
    if pp.threshold is not None:
        i, x = pp.threshold
        c.line([p.x(x)] * 2, [p.y(i - 0.45), p.y(i + 0.45)], "k", 1.5, dash=(3.7, 1.6))
    if pp.interval is not None:
        i, _, a, b = pp.interval
        yc, cap = float(p.y(i)), c.px(2)
        c.line([p.x(a), p.x(b)], [yc, yc], "k", 0.8)
        for x in (p.x(a), p.x(b)):
            c.line([x, x], [yc - cap, yc + cap], "k", 0.8)
    frame(c, p)
    bottom = x_axis(c, p, [0.0, 0.5, 1.0], size_pt=8)
    y_axis(c, p, list(range(n)), pp.names, size_pt=8)
    if pp.rule:
        x_label(c, p, pp.rule, bottom, 6.5)


def _hatch(c: Canvas, x0: float, y0: float, x1: float, y1: float) -> None:
    """``//`` hatching (black, 45 degrees) inside a bar."""
    step = c.dpi / _HATCH_PER_INCH
    h = y1 - y0
    k = x0 - h
    while k < x1:
        # the line x = k + (y1 - y) from the bottom edge up, clipped to the bar
        xa, xb = max(k, x0), min(k + h, x1)
        if xb > xa:
            c.line([xa, xb], [y1 - (xa - k), y1 - (xb - k)], "k", 0.75)
        k += step
