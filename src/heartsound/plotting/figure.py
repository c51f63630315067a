"""The report figure of an :class:`~heartsound.Analysis`, composed of the panels of
:mod:`heartsound.plotting.panels`.

The scalar values shown (title, probabilities, phases) come from ``Analysis.to_dict()``,
the arrays (samples, attention, spectrogram) from the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..serialize import display_text
from .panels import (_attention_label, new_figure, plot_attention, plot_attention_curve,
                     plot_probabilities, plot_segmentation, plot_spectrogram, png_bytes)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

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
        On the Agg canvas; ``fig.savefig(path)`` writes it.
    """
    d = analysis.to_dict() if data is None else data
    rec = analysis.recording
    fig = new_figure(figsize)
    gs = fig.add_gridspec(3, max(1, len(d["classification"])), height_ratios=[1.0, 1.2, 0.8],
                          hspace=0.45, wspace=0.35, left=0.07, right=0.93, top=0.91,
                          bottom=0.17)
    ax_w = fig.add_subplot(gs[0, :])
    ax_s = fig.add_subplot(gs[1, :], sharex=ax_w)
    plot_segmentation(y=rec.y, sr=rec.sr, rows=d["segmentation"]["states"], ax=ax_w)
    ax_w.set_xlabel("")
    ax_w.tick_params(labelbottom=False)  # shares the time axis of the spectrogram
    fig.suptitle(_title(d), fontsize=10, x=0.07, ha="left", y=0.985)
    mapped, timed = _attention_results(analysis)
    if mapped is not None:
        plot_attention(mapped, ax=ax_s)
    else:
        plot_spectrogram(rec.y, rec.sr, ax=ax_s)
        ax_s.twinx().set_yticks([])
    if timed is not None:
        plot_attention_curve(timed, ax=ax_w.twinx(), colour="#2ca02c",
                             label=f"attention of the {timed.task} classifier for "
                                   f"'{_attention_label(timed)}'")
    for j, (task, c) in enumerate(d["classification"].items()):
        plot_probabilities(task, c, ax=fig.add_subplot(gs[2, j]))
    caveats = [f"{t}: {c['decision']['caveat']}" for t, c in d["classification"].items()
               if (c.get("decision") or {}).get("caveat")]
    if caveats:
        fig.text(0.07, 0.005, "\n".join(caveats), fontsize=6.5, color="#555555",
                 ha="left", va="bottom")
    return fig


def figure_png(analysis: Analysis, *, data: Mapping[str, Any] | None = None,
               dpi: int = 90) -> bytes:
    """:func:`plot` as PNG bytes."""
    return png_bytes(plot(analysis, data=data), dpi=dpi)
