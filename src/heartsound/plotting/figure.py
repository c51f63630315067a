"""The report figure of an :class:`~heartsound.Analysis`: :func:`plot` composes the
matplotlib panels of :mod:`heartsound.plotting.panels`; :func:`figure_png` writes the
same figure as PNG with the Pillow raster of :mod:`.raster_report` (no matplotlib).

What both show (title, which attention goes where, caveats, probability rows, layout)
comes from :mod:`.scene`; the scalar values from ``Analysis.to_dict()``, the arrays
(samples, attention, spectrogram) from the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .panels import (new_figure, plot_attention, plot_attention_curve, plot_no_signal,
                     plot_probabilities, plot_segmentation, plot_spectrogram)
from .scene import FIGSIZE, GRID, TIMED_COLOUR, caveat_lines, curve_label, title_text
from .view import GRID_LONG, WINDOW_COLOUR, View, figure_view, overview_title

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..pipeline import Analysis

__all__ = ["plot", "figure_png"]


def _layout(fig: Figure, n_tasks: int, timed: bool, zoomed: bool = False) -> dict[str, Any]:
    """The axes of the report figure, added to ``fig`` in drawing order: ``overview``
    (when ``zoomed``, else None), ``wave``, ``spec`` (sharing the time axis),
    ``spec_twin``, ``wave_twin`` (when ``timed``) and ``probs`` (one per task)."""
    grid = GRID_LONG if zoomed else GRID
    gs = fig.add_gridspec(len(grid["height_ratios"]), max(1, n_tasks), **grid)
    k = 1 if zoomed else 0
    overview = fig.add_subplot(gs[0, :]) if zoomed else None
    ax_w = fig.add_subplot(gs[k, :])
    ax_s = fig.add_subplot(gs[k + 1, :], sharex=ax_w)
    axes = {"overview": overview, "wave": ax_w, "spec": ax_s, "spec_twin": ax_s.twinx()}
    axes["wave_twin"] = ax_w.twinx() if timed else None
    axes["probs"] = [fig.add_subplot(gs[k + 2, j]) for j in range(n_tasks)]
    return axes


def _overview(ax: Any, analysis: Analysis, v: View) -> None:
    """The overview strip of a zoomed view: the whole waveform, the stretches without
    signal, the zoom window boxed."""
    rec = analysis.recording
    plot_segmentation(y=rec.y, sr=rec.sr, rows=[], ax=ax, legend=False)
    plot_no_signal(ax, v.no_signal, label=False)
    ax.axvspan(v.t0, v.t1, fill=False, edgecolor=WINDOW_COLOUR, lw=1.5)
    ax.set_yticks([])
    ax.set_ylabel("")
    ax.set_xlabel("")
    ax.tick_params(labelsize=7)
    ax.set_title(overview_title(v), fontsize=8)


def _draw(fig: Figure, axes: Mapping[str, Any], analysis: Analysis,
          d: Mapping[str, Any], v: View) -> None:
    """Draw the report figure of ``analysis`` (``d``: its ``to_dict()``) on the axes of
    :func:`_layout`."""
    sr = analysis.recording.sr
    ax_w, ax_s = axes["wave"], axes["spec"]
    plot_segmentation(y=v.y, sr=sr, rows=d["segmentation"]["states"], ax=ax_w, t0=v.y_t0)
    plot_no_signal(ax_w, v.no_signal)
    ax_w.set_xlabel("")
    ax_w.tick_params(labelbottom=False)  # shares the time axis of the spectrogram
    fig.suptitle(title_text(d), fontsize=10, x=GRID["left"], ha="left", y=0.985)
    if v.mapped is not None:
        plot_attention(v.mapped, ax=ax_s, twin=axes["spec_twin"], xlim=ax_w.get_xlim(),
                       no_signal=v.no_signal, drawn=v.map_drawn)
    else:
        plot_spectrogram(v.y, sr, ax=ax_s, t0=v.y_t0)
        axes["spec_twin"].set_yticks([])
    ax_s.set_xlim(ax_w.get_xlim())
    plot_no_signal(ax_s, v.no_signal, colour="#bbbbbb", shade=False)
    if v.timed is not None:
        plot_attention_curve(v.timed, ax=axes["wave_twin"], colour=TIMED_COLOUR,
                             label=curve_label(v.timed), no_signal=v.no_signal)
    if axes.get("overview") is not None:
        _overview(axes["overview"], analysis, v)
    for ax, (task, c) in zip(axes["probs"], d["classification"].items()):
        plot_probabilities(task, c, ax=ax)
    caveats = caveat_lines(d)
    if caveats:
        fig.text(GRID["left"], 0.005, "\n".join(caveats), fontsize=6.5, color="#555555",
                 ha="left", va="bottom")


def plot(analysis: Analysis, *, data: Mapping[str, Any] | None = None,
         figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """The report figure of an analysis, as a matplotlib figure (interactive or vector
    use; :func:`figure_png` writes the PNG without matplotlib).

    Three rows: :func:`plot_segmentation` with, over it, the attention over time of the
    first classifier (murmur, abnormal, severity) whose attention has no frequency axis
    (GRU/LSTM); :func:`plot_attention` of the first classifier with a time x frequency
    map (CNN), else :func:`plot_spectrogram`; :func:`plot_probabilities` of each task.

    Parameters
    ----------
    analysis : Analysis
    data : dict, optional
        ``analysis.to_dict()`` when the caller already has it.
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure on the Agg canvas; ``fig.savefig(path)`` writes it.
    """
    d = analysis.to_dict() if data is None else data
    fig = new_figure(figsize)
    v = figure_view(analysis)
    _draw(fig, _layout(fig, len(d["classification"]), v.timed is not None, v.zoomed),
          analysis, d, v)
    return fig


def figure_png(analysis: Analysis, *, data: Mapping[str, Any] | None = None,
               dpi: int = 90) -> bytes:
    """The report figure of :func:`plot` as PNG bytes, drawn with Pillow
    (:func:`.raster_report.report_png`: same panels, texts and colours; matplotlib is not
    imported), 11 x 8.5 in at ``dpi`` (990 x 765 px at 90).
    """
    from .raster_report import report_png  # Pillow, loaded only when a PNG is written

    d = analysis.to_dict() if data is None else data
    return report_png(analysis, d, dpi=dpi)
