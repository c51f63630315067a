"""Plot of a segmentation: waveform with S1/S2 bands and systole/diastole shaded.

The panel is :func:`heartsound.plotting.plot_segmentation` (``ax``-based, the same one the
report figure of ``heartsound analyze`` uses); :func:`save_segmentation_png` is the figure
``heartsound segment`` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import PHASE_COLOURS, new_figure, plot_segmentation, png_bytes
from ..serialize import write_atomic
from .result import Segmentation

__all__ = ["plot_segmentation", "segmentation_figure", "save_segmentation_png", "COLORS"]

#: Band colour of each state (the report figure's).
COLORS = PHASE_COLOURS


def segmentation_figure(y: np.ndarray, sr: float, seg: Segmentation, *,
                        title: str | None = None, reference: Any = None) -> Any:
    """A one-panel figure (11 x 3 in) of :func:`~heartsound.plotting.plot_segmentation`;
    the default title gives the method, heart rate and cycles."""
    fig = new_figure((11, 3))
    ax = fig.add_subplot(1, 1, 1)
    if title is None:
        hr = seg.median_heart_rate_bpm
        title = (f"{seg.method}: {'n/a' if hr is None else f'{hr:.0f}'} bpm, "
                 f"{seg.intervals()['n_cycles']} cycles")
    plot_segmentation(seg, y, sr, ax=ax, reference=reference, title=title)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.85, bottom=0.16)
    return fig


def save_segmentation_png(path: str | Path, y: np.ndarray, sr: float, seg: Segmentation, *,
                          title: str | None = None, reference: Any = None) -> Path:
    """Write :func:`segmentation_figure` to ``path`` as PNG, atomically."""
    return write_atomic(path, png_bytes(segmentation_figure(y, sr, seg, title=title,
                                                            reference=reference)))
