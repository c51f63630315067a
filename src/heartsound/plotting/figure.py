"""The report figure of an :class:`~heartsound.Analysis`, composed of the panels of
:mod:`heartsound.plotting.panels`.

The scalar values shown (title, probabilities, phases) come from ``Analysis.to_dict()``,
the arrays (samples, attention, spectrogram) from the object.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..serialize import display_text
from .panels import (PNG_COMPRESS_LEVEL, _attention_label, attention_curve, new_figure,
                     plot_attention, plot_attention_curve, plot_probabilities,
                     plot_segmentation, plot_spectrogram, png_bytes, reset_axes)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from ..pipeline import Analysis

__all__ = ["plot", "figure_png"]

#: Task whose attention map is drawn, first available in this order.
_ATTENTION_PREFERENCE = ("murmur", "abnormal", "severity")


def _title(d: Mapping[str, Any]) -> str:
    seg, q, hr = d["segmentation"], d["quality"], d["heart_rate_bpm"]
    # a name that is not UTF-8 (lone surrogates) cannot be drawn: shown as \xNN
    title = f"{display_text(Path(d['source']).name)}: {d['duration_s']:.1f} s"
    if seg.get("method"):
        title += f", segmentation {seg['method']}, {d['n_cycles']} cycles"
    if hr is not None:
        title += f", {hr:.0f} bpm"
    return title + f"; quality {'usable' if q['usable'] else 'NOT usable'} ({q['score']:.2f})"


def _attention_results(analysis: Analysis) -> tuple[Any, Any]:
    """The preferred classifier with a time x frequency map (drawn over its spectrogram)
    and the preferred one with attention over time only (drawn over the waveform)."""
    order = {t: i for i, t in enumerate(_ATTENTION_PREFERENCE)}
    ranked = [tr.result for tr in sorted(analysis.classification.values(),
                                         key=lambda tr: order.get(tr.task, len(order)))
              if tr.result is not None]
    mapped = next((r for r in ranked if getattr(r, "spectrogram", None) is not None
                   and getattr(r, "attention_freqs_hz", None) is not None), None)
    timed = next((r for r in ranked if r is not mapped
                  and getattr(r, "attention_freqs_hz", None) is None), None)
    return mapped, timed


def _layout(fig: Figure, n_tasks: int, timed: bool) -> dict[str, Any]:
    """The axes of the report figure, added to ``fig`` in drawing order: ``wave``,
    ``spec`` (sharing the time axis), ``spec_twin``, ``wave_twin`` (when ``timed``) and
    ``probs`` (one per task)."""
    gs = fig.add_gridspec(3, max(1, n_tasks), height_ratios=[1.0, 1.2, 0.8],
                          hspace=0.45, wspace=0.35, left=0.07, right=0.93, top=0.91,
                          bottom=0.17)
    ax_w = fig.add_subplot(gs[0, :])
    ax_s = fig.add_subplot(gs[1, :], sharex=ax_w)
    axes = {"wave": ax_w, "spec": ax_s, "spec_twin": ax_s.twinx()}
    axes["wave_twin"] = ax_w.twinx() if timed else None
    axes["probs"] = [fig.add_subplot(gs[2, j]) for j in range(n_tasks)]
    return axes


def _draw(fig: Figure, axes: Mapping[str, Any], analysis: Analysis,
          d: Mapping[str, Any]) -> Text | None:
    """Draw the report figure of ``analysis`` (``d``: its ``to_dict()``) on the axes of
    :func:`_layout`; returns the caveats' text (None without caveats)."""
    rec = analysis.recording
    ax_w, ax_s = axes["wave"], axes["spec"]
    plot_segmentation(y=rec.y, sr=rec.sr, rows=d["segmentation"]["states"], ax=ax_w)
    ax_w.set_xlabel("")
    ax_w.tick_params(labelbottom=False)  # shares the time axis of the spectrogram
    fig.suptitle(_title(d), fontsize=10, x=0.07, ha="left", y=0.985)
    mapped, timed = _attention_results(analysis)
    if mapped is not None:
        plot_attention(mapped, ax=ax_s, twin=axes["spec_twin"])
    else:
        plot_spectrogram(rec.y, rec.sr, ax=ax_s)
        axes["spec_twin"].set_yticks([])
    if timed is not None:
        plot_attention_curve(timed, ax=axes["wave_twin"], colour="#2ca02c",
                             label=f"attention of the {timed.task} classifier for "
                                   f"'{_attention_label(timed)}'")
    for ax, (task, c) in zip(axes["probs"], d["classification"].items()):
        plot_probabilities(task, c, ax=ax)
    caveats = [f"{t}: {c['decision']['caveat']}" for t, c in d["classification"].items()
               if (c.get("decision") or {}).get("caveat")]
    if not caveats:
        return None
    return fig.text(0.07, 0.005, "\n".join(caveats), fontsize=6.5, color="#555555",
                    ha="left", va="bottom")


def plot(analysis: Analysis, *, data: Mapping[str, Any] | None = None,
         figsize: tuple[float, float] = (11, 8.5)) -> Figure:
    """The report figure of an analysis.

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
    timed = _attention_results(analysis)[1] is not None
    _draw(fig, _layout(fig, len(d["classification"]), timed), analysis, d)
    return fig


def _signature(analysis: Analysis, d: Mapping[str, Any]) -> tuple[Any, ...]:
    """What decides which drawing calls :func:`_draw` makes (not the data they draw):
    figures with the same signature can be drawn on the same axes."""
    mapped, timed = _attention_results(analysis)
    return (tuple((t, bool(c.get("probabilities"))) for t, c in d["classification"].items()),
            None if mapped is None else attention_curve(mapped) is None,
            None if timed is None else attention_curve(timed) is None)


#: Reused figures: signature -> (figure, axes, kept caveat pixels), at most
#: :data:`_MAX_CACHED`.
_CACHE: OrderedDict[tuple[Any, ...], tuple[Figure, dict[str, Any], dict[str, Any]]] = \
    OrderedDict()
_MAX_CACHED = 4
_CACHE_LOCK = threading.Lock()
#: Pixels kept around a text's extent (its antialiased edge).
_PAD_PX = 3


def _render(fig: Figure, dpi: int, text: Text | None = None
            ) -> tuple[np.ndarray, tuple[slice, slice] | None]:
    """Draw ``fig`` at ``dpi`` as ``savefig`` does; a copy of its pixels [shape=(height,
    width, 4), uint8] and, for ``text``, the rows and columns of its padded extent when
    nothing else of the figure (axes with their labels, the title) reaches into it."""
    old = fig.dpi
    fig.dpi = dpi
    try:
        fig.canvas.draw()
        rgba = np.array(fig.canvas.buffer_rgba())
        if text is None:
            return rgba, None
        r = fig.canvas.get_renderer()
        box = text.get_window_extent(r).padded(_PAD_PX)
        others = [ax.get_tightbbox(r) for ax in fig.axes]
        others += [t.get_window_extent(r) for t in fig.texts if t is not text]  # title
        if any(o is not None and box.overlaps(o) for o in others):
            return rgba, None
        h = rgba.shape[0]
        x0, x1 = max(0, int(box.x0)), min(rgba.shape[1], int(np.ceil(box.x1)))
        y0, y1 = max(0, h - int(np.ceil(box.y1))), min(h, h - int(box.y0))
        return rgba, (slice(y0, y1), slice(x0, x1))
    finally:
        fig.dpi = old


def _encode(rgba: np.ndarray, dpi: int) -> bytes:
    """PNG of ``rgba`` as :func:`~.panels.png_bytes` writes a figure (same metadata)."""
    from matplotlib.image import imsave

    buf = io.BytesIO()
    imsave(buf, memoryview(np.ascontiguousarray(rgba)), format="png", dpi=dpi,
           pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buf.getvalue()


def _png_keeping(fig: Figure, text: Text | None, kept: dict[str, Any], dpi: int) -> bytes:
    """PNG of ``fig``; the caveats ``text`` (the same string in the same place on every
    figure of a layout, alone there) is drawn once and its pixels pasted after, which
    gives the same image: a ~480-character text costs a quarter of a draw."""
    if text is None:
        return png_bytes(fig, dpi=dpi)
    if kept.get("string") == text.get_text():
        text.set_visible(False)
        try:
            rgba, _ = _render(fig, dpi)
        finally:
            text.set_visible(True)
        rgba[kept["where"]] = kept["pixels"]
        return _encode(rgba, dpi)
    rgba, where = _render(fig, dpi, text)
    kept.clear()
    if where is not None:
        kept.update(string=text.get_text(), where=where, pixels=rgba[where].copy())
    return _encode(rgba, dpi)


def figure_png(analysis: Analysis, *, data: Mapping[str, Any] | None = None,
               dpi: int = 90) -> bytes:
    """:func:`plot` as PNG bytes (the same pixels).

    The figure and its axes are kept for the next call with the same layout (which
    tasks, which attention panels): only the drawn data are replaced
    (:func:`~.panels.reset_axes`), which saves building the axes and their ticks and
    lets the canvas reuse its renderer and text metrics; the caveats' pixels are kept
    too (:func:`_png_keeping`).
    """
    d = analysis.to_dict() if data is None else data
    key = _signature(analysis, d)
    with _CACHE_LOCK:
        if key in _CACHE:
            fig, axes, kept = _CACHE.pop(key)
            for ax in fig.axes:
                reset_axes(ax)
            if axes.get("caveats") is not None:
                axes["caveats"].remove()
        else:
            fig = new_figure((11, 8.5))
            axes, kept = _layout(fig, len(d["classification"]), key[2] is not None), {}
        text = axes["caveats"] = _draw(fig, axes, analysis, d)
        _CACHE[key] = (fig, axes, kept)
        while len(_CACHE) > _MAX_CACHED:
            _CACHE.popitem(last=False)
        return _png_keeping(fig, text, kept, dpi)
