"""The ``ax``-level panels of heartsound's figures (see :mod:`heartsound.plotting`).

Each takes ``ax=`` (a new figure on the Agg canvas otherwise) and returns the ``Axes`` it
drew on; matplotlib is imported only inside :func:`new_figure` and the panels' callers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ..vocab import STATE_NAMES
from .scene import (CONTOUR_COLOUR, CONTOUR_LEVELS, MAPPED_COLOUR, MAPPED_YLIM,
                    PHASE_ALPHA, PHASE_COLOURS, PNG_COMPRESS_LEVEL, REFERENCE_MARKER_PT,
                    WAVE_YMARGIN, Rows, attention_image, attention_title, cell_edges,
                    minmax_envelope, phase_spans, probability_panel, reference_colour,
                    scaled_curve, spectrogram_db)
from .view import NO_SIGNAL_ALPHA, NO_SIGNAL_SHADE, NO_SIGNAL_TEXT, curve_pieces, signal_mask

#: Stretches without signal, ``(start_s, end_s)`` (:func:`.view.figure_view`).
Spans = list[tuple[float, float]] | None

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_segmentation", "plot_attention", "plot_attention_curve", "plot_spectrogram",
           "plot_probabilities", "new_figure", "png_bytes", "PHASE_COLOURS"]



def new_figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return new_figure(figsize).add_subplot(1, 1, 1) if ax is None else ax


def _columns(ax: Axes) -> int:
    """Width of ``ax`` in pixels (at least 100)."""
    fig = ax.figure
    return max(100, int(ax.get_position().width * fig.get_figwidth() * fig.dpi))


def _waveform(ax: Axes, y: np.ndarray, sr: float, t0: float = 0.0) -> float:
    """Draw ``y`` (its first sample at ``t0`` s; an envelope per pixel column when longer
    than 2 samples per column); returns the peak amplitude."""
    n_px = 2 * _columns(ax)
    if y.size > 2 * n_px:
        t, lo, hi = minmax_envelope(y, sr, n_px)
        ax.fill_between(t0 + t, lo, hi, color="k", lw=0.3)
        peak = max(float(-lo.min()), float(hi.max()))
    else:
        ax.plot(t0 + np.arange(y.size) / sr, y, color="k", lw=0.5)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
    return peak or 1.0


def _bands(ax: Axes, rows: Rows, lim: float) -> bool:
    """Shade each state's rows over ``[-lim, lim]``; True when anything was drawn."""
    spans = phase_spans(rows)
    for s, sp in spans.items():
        if sp:
            ax.broken_barh(sp, (-lim, 2 * lim), facecolors=PHASE_COLOURS[s],
                           alpha=PHASE_ALPHA[s], label=STATE_NAMES[s], lw=0)
    return any(spans.values())


def plot_segmentation(segmentation: Any = None, y: np.ndarray | None = None,
                      sr: float | None = None, *, ax: Axes | None = None,
                      rows: Rows | None = None,
                      reference: Iterable[tuple[str, float]] | None = None,
                      title: str | None = None, legend: bool = True, t0: float = 0.0) -> Axes:
    """The waveform with S1 and S2 as bands and systole/diastole shaded.

    Parameters
    ----------
    segmentation : Segmentation, optional
        Its ``rows()`` are drawn (or pass ``rows``).
    y : np.ndarray [shape=(n,)], optional
        Samples; without them only the bands are drawn.
    sr : float, optional
        Sample rate of ``y`` in Hz (default ``segmentation.sr``).
    ax : matplotlib Axes, optional
        Where to draw; a new 11 x 3 in figure otherwise.
    rows : iterable of (start_s, end_s, state), optional
        CirCor rows to draw instead of ``segmentation.rows()``.
    reference : iterable of (sound, time_s), optional
        Reference sounds drawn as triangles at the bottom (S1 red, S2 blue).
    title : str, optional
    legend : bool
        Name the bands above the axes.
    t0 : float
        Time (s) of ``y``'s first sample (a part of a recording).

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (11, 3))
    if rows is None:
        rows = segmentation.rows() if segmentation is not None else []
    rows = list(rows)
    if sr is None and segmentation is not None:
        sr = segmentation.sr
    end = rows[-1][1] if rows else 0.0
    lim = 1.0
    if y is not None:
        if sr is None:
            raise ParameterError("plot_segmentation: give `sr` with `y` (or a "
                                 "segmentation that has its `sr`)")
        y = np.asarray(y)
        lim = _waveform(ax, y, sr, t0)
        end = t0 + y.size / sr
    if _bands(ax, rows, lim) and legend:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7,
                  frameon=False, borderaxespad=0.1)
    for sound, time_s in reference or ():
        ax.plot([time_s], [-lim], marker="^", ms=REFERENCE_MARKER_PT,
                color=reference_colour(sound))
    ax.set_ylim(-WAVE_YMARGIN * lim, WAVE_YMARGIN * lim)
    ax.set_xlim(t0, end or 1.0)
    ax.set_ylabel("amplitude")
    ax.set_xlabel("time (s)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_attention_curve(result: Any, *, ax: Axes | None = None, segmentation: Any = None,
                         colour: str = "k", ylim: float = 1.05, label: str | None = None,
                         no_signal: Spans = None) -> Axes:
    """Attention over time of ``result``, scaled to its peak, over the phases of
    ``segmentation`` when given.

    Parameters
    ----------
    result : ClassificationResult
    ax : matplotlib Axes, optional
    segmentation : Segmentation, optional
        Phases drawn as bands; the title gives the attention share of each phase.
    colour : str
    ylim : float
        Upper y limit (1.6 keeps the curve in the lower part of a shared panel).
    label : str, optional
        Legend entry of the curve.
    no_signal : list of (start_s, end_s), optional
        Stretches without signal: no curve over them
        (:func:`heartsound.quality_silence.no_signal_spans`).

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (11, 2))
    curve = scaled_curve(result, 2 * _columns(ax))  # at most 2 points per pixel
    if curve is None:
        ax.set_yticks([])
        return ax
    if segmentation is not None:
        _bands(ax, segmentation.rows(), ylim)
        shares = result.attention_by_phase(segmentation)
        ax.set_title("attention share: " + ", ".join(
            f"{STATE_NAMES[s]} {shares[STATE_NAMES[s]]:.2f}" for s in PHASE_COLOURS),
            fontsize=9)
    for i, (t, w) in enumerate(curve_pieces(*curve, no_signal)):
        ax.plot(t, w, color=colour, lw=1.1, label=None if i else label)
    ax.set_ylim(0, ylim)
    ax.set_yticks([0.0, 0.5, 1.0])
    ax.set_ylabel("attention (rel.)", fontsize=8)
    ax.tick_params(labelsize=7)
    if label:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False,
                  borderaxespad=0.1)
    return ax


def plot_attention(result: Any, *, ax: Axes | None = None, contours: bool = True,
                   curve: bool = True, twin: Axes | None = None,
                   xlim: tuple[float, float | None] = (0.0, None), no_signal: Spans = None,
                   drawn: bool = True) -> Axes:
    """The log-Mel spectrogram a classifier saw, its attention map as contours (50 %,
    80 % of the peak) and its attention over time as a white curve (right axis).

    Parameters
    ----------
    result : ClassificationResult
        With ``spectrogram`` [shape=(n_frames, n_mels)], ``attention``,
        ``attention_times_s`` and ``attention_freqs_hz``.
    ax : matplotlib Axes, optional
    contours : bool
        Draw the time x frequency attention map (CNN models) as contours.
    curve : bool
        Draw the attention over time on a twin axis.
    twin : matplotlib Axes, optional
        That twin (``ax.twinx()`` otherwise).
    xlim : (float, float or None)
        The time range drawn (s): the first and last cells reach it.
    no_signal : list of (start_s, end_s), optional
        Stretches without signal: neither contours nor curve over them.
    drawn : bool
        Draw the attention at all (False: the log-Mel alone, as for an ungraded severity).

    Returns
    -------
    matplotlib Axes
        The spectrogram's axes (the curve is on a twin).
    """
    ax = _axes(ax, (11, 3.5))
    tsp, fs, spec, vmin, vmax, amap = attention_image(result, 2 * _columns(ax))
    ax.pcolormesh(cell_edges(tsp, *xlim), cell_edges(fs), spec.T, shading="flat",
                  cmap="magma", vmin=vmin, vmax=vmax, rasterized=True)
    if drawn and contours and amap is not None:
        silent = np.broadcast_to(~signal_mask(tsp, no_signal)[:, None], amap.shape)
        amap = np.ma.masked_where(silent, amap)
        ax.contour(tsp, fs, amap.T, levels=list(CONTOUR_LEVELS), colors=[CONTOUR_COLOUR],
                   linewidths=[0.8, 1.4])
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")
    ax.set_title(attention_title(result, drawn), fontsize=9)
    if curve and drawn:
        plot_attention_curve(result, ax=ax.twinx() if twin is None else twin,
                             colour=MAPPED_COLOUR, ylim=MAPPED_YLIM, no_signal=no_signal)
    elif twin is not None:
        twin.set_yticks([])
    return ax


def plot_no_signal(ax: Axes, spans: Spans, *, colour: str = "#444444",
                   shade: bool = True, label: bool = True) -> Axes:
    """Grey the stretches ``spans`` (``(start_s, end_s)``, no signal) of ``ax`` (when
    ``shade``) and label those wide enough "no signal" in ``colour`` (when ``label``)."""
    for a, b in spans or ():
        if shade:
            ax.axvspan(a, b, color=NO_SIGNAL_SHADE, alpha=NO_SIGNAL_ALPHA, lw=0)
        lo, hi = ax.get_xlim()
        if label and min(b, hi) - max(a, lo) > 0.06 * (hi - lo):
            ax.text((max(a, lo) + min(b, hi)) / 2, 0.8, NO_SIGNAL_TEXT, fontsize=7,
                    color=colour, ha="center", va="center", transform=ax.get_xaxis_transform())
    return ax


def plot_spectrogram(y: np.ndarray, sr: float, *, ax: Axes | None = None,
                     fmax: float = 800.0, t0: float = 0.0) -> Axes:
    """STFT spectrogram (256-sample Hann windows, half overlap) in dB, up to ``fmax`` Hz,
    of ``y`` (its first sample at ``t0`` s), its cells reaching both ends of ``y``."""
    ax = _axes(ax, (11, 3.5))
    ts, f, db, vmin, vmax = spectrogram_db(y, sr, 2 * _columns(ax), fmax)
    ax.pcolormesh(cell_edges(t0 + ts, t0, t0 + y.size / sr), cell_edges(f), db.T,
                  shading="flat", cmap="magma", vmin=vmin, vmax=vmax, rasterized=True)
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")
    ax.set_title("spectrogram", fontsize=9)
    return ax


def plot_probabilities(task: str, c: Mapping[str, Any], *, ax: Axes | None = None) -> Axes:
    """Bars of one task's class probabilities (the predicted class green, hatched when
    uncertain), the decision threshold (dashed) and spread over windows (error bar) on
    the bar the rule compares, and the rule itself under the axis.

    Parameters
    ----------
    task : str
    c : dict
        The task's entry of ``Analysis.to_dict()["classification"]`` (or
        ``TaskResult.to_dict()``).
    ax : matplotlib Axes, optional
    """
    ax = _axes(ax, (3.5, 2))
    p = probability_panel(task, c)
    ax.set_title(p.title, fontsize=9)
    if not p.available:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, p.empty_text, ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="#777777")
        return ax
    bars = ax.barh(p.names, p.values, color=p.colours)
    ax.invert_yaxis()
    if p.hatched:
        for b in bars:
            b.set_hatch("//")
    ax.set_xlim(0, 1)
    ax.set_xticks([0.0, 0.5, 1.0])
    for yi, v in enumerate(p.values):
        ax.text(p.value_x(yi, v), yi, f"{v:.2f}", va="center", fontsize=8)
    if p.threshold is not None:
        i, x = p.threshold
        ax.plot([x] * 2, [i - 0.45, i + 0.45], color="k", lw=1.5, ls="--")
    if p.interval is not None:
        i, score, lo, hi = p.interval
        ax.errorbar([score], [i], xerr=[[score - lo], [hi - score]], fmt="none", ecolor="k",
                    capsize=2, lw=0.8)
    if p.rule:
        ax.set_xlabel(p.rule, fontsize=6.5)
    ax.tick_params(labelsize=8)
    return ax


def png_bytes(fig: Figure, *, dpi: int = 90) -> bytes:
    """``fig`` as PNG bytes (fixed layout: one draw, no tight bounding box; zlib level
    :data:`PNG_COMPRESS_LEVEL`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buf.getvalue()
