"""Plot of a segmentation: waveform with S1/S2 marked and systole/diastole shaded.

Uses matplotlib's non-interactive Agg backend through the object API (never
``pyplot.show``), so it works headless and inside loops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .result import Segmentation

__all__ = ["plot_segmentation", "COLORS"]

#: Shading colour of each state.
COLORS = {1: "#d62728", 2: "#fdd0a2", 3: "#1f77b4", 4: "#c6dbef"}


def plot_segmentation(y: np.ndarray, sr: float, seg: Segmentation, path: str | Path | None = None,
                      *, title: str | None = None, reference: Any = None,
                      max_seconds: float | None = 30.0) -> Any:
    """Draw the waveform with the decoded states.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : float
        Sample rate in Hz.
    seg : Segmentation
        Result to draw: S1 red and S2 blue bands over the sounds, systole orange and
        diastole light blue shading.
    path : path, optional
        Write a PNG there (the figure is closed); otherwise the figure is returned.
    title : str, optional
    reference : iterable of (sound, time_s), optional
        Reference sounds drawn as triangles above the waveform (S1 red, S2 blue).
    max_seconds : float or None
        Draw only the first ``max_seconds`` (long recordings become unreadable).

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    y = np.asarray(y, dtype=np.float64)
    dur = y.size / sr
    t_end = dur if max_seconds is None else min(dur, float(max_seconds))
    n = int(round(t_end * sr))
    step = max(1, n // 20000)
    t = np.arange(0, n, step) / sr
    fig = Figure(figsize=(max(8.0, min(24.0, 1.2 * t_end)), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    amp = float(np.max(np.abs(y[:n]))) or 1.0
    for start, end, state in seg.rows():
        if start >= t_end or state not in COLORS:
            continue
        alpha = 0.55 if state in (1, 3) else 0.35
        ax.axvspan(start, min(end, t_end), color=COLORS[state], alpha=alpha, lw=0)
    ax.plot(t, y[:n:step] / amp, color="black", lw=0.5)
    for ev in seg.events():
        if ev.onset_s < t_end:
            ax.text(ev.centre_s, 1.02, ev.sound, ha="center", va="bottom", fontsize=7,
                    color=COLORS[1 if ev.sound == "S1" else 3])
    if reference is not None:
        for sound, time_s in reference:
            if time_s <= t_end:
                ax.plot([time_s], [-1.08], marker="^", ms=5,
                        color=COLORS[1 if sound == "S1" else 3])
    ax.set_xlim(0, t_end)
    ax.set_ylim(-1.15, 1.15)
    ax.set_xlabel("time (s)")
    ax.set_yticks([])
    hr = seg.heart_rate_bpm
    ax.set_title(title or f"{seg.method}: {hr:.0f} bpm, {seg.intervals()['n_cycles']} cycles",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(path))
        return None
    return fig
