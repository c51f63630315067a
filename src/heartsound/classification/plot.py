"""A classification's attention over its log-Mel spectrogram, with the cardiac phases.

The panels are :func:`heartsound.plotting.plot_attention` and
:func:`heartsound.plotting.plot_attention_curve` (``ax``-based, shared with the report
figure of ``heartsound analyze``); this module stacks them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plotting import new_figure, plot_attention as plot_attention_panel, plot_attention_curve

__all__ = ["plot_attention"]


def plot_attention(result: Any, y: np.ndarray | None = None, sr: int | None = None, *,
                   segmentation: Any = None, ax: Any = None, path: str | None = None) -> Any:
    """Spectrogram with the attention map, the attention over time, and the phases.

    Parameters
    ----------
    result : ClassificationResult
        From :func:`~heartsound.classify` (holds the spectrogram and the attention).
    y, sr : np.ndarray [shape=(n,)], int, optional
        The audio; segmented with :func:`heartsound.segment` when ``segmentation`` is
        None (a figure without phases when that fails).
    segmentation : Segmentation, optional
        S1/systole/S2/diastole drawn as bands under the attention curve.
    ax : sequence of two matplotlib Axes, optional
        Axes for the spectrogram and the attention curve (a new figure otherwise).
    path : str, optional
        Save the figure there (PNG/PDF/SVG by extension).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if segmentation is None and y is not None and sr is not None:
        from ..segmentation import segment

        try:
            segmentation = segment(y, sr)
        except Exception:  # noqa: BLE001 - a figure without phases is still useful
            segmentation = None
    if ax is None:
        fig = new_figure((10, 5))
        gs = fig.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0.35)
        ax = [fig.add_subplot(gs[0])]
        ax.append(fig.add_subplot(gs[1], sharex=ax[0]))
    fig = ax[0].figure
    plot_attention_panel(result, ax=ax[0], curve=False)
    plot_attention_curve(result, ax=ax[1], segmentation=segmentation)
    ax[1].set_xlabel("time (s)")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
