"""Plot of a segmentation: waveform with S1/S2 bands and systole/diastole shaded.

The panel is :func:`heartsound.plotting.plot_segmentation` (``ax``-based, the same one the
report figure of ``heartsound analyze`` uses); :func:`segmentation_figure` is it alone on
an 11 x 3 in matplotlib figure, for interactive or vector use. :func:`segmentation_png`
(what ``heartsound segment`` writes) and :func:`save_segmentation_png` draw that figure
with Pillow (:func:`heartsound.plotting.raster_report.segmentation_png`, the report PNG's
waveform panel), without importing matplotlib. Title and layout come from
:mod:`heartsound.plotting.scene` for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import PHASE_COLOURS, new_figure, plot_segmentation
from ..plotting.scene import SEGMENTATION_ADJUST, SEGMENTATION_FIGSIZE, segmentation_title
from ..serialize import write_atomic
from .result import Segmentation

__all__ = ["plot_segmentation", "segmentation_figure", "segmentation_png",
           "save_segmentation_png", "COLORS"]

#: Band colour of each state (the report figure's).
COLORS = PHASE_COLOURS


def segmentation_figure(y: np.ndarray, sr: float, seg: Segmentation, *,
                        title: str | None = None, reference: Any = None) -> Any:
    """A one-panel matplotlib figure (11 x 3 in) of
    :func:`~heartsound.plotting.plot_segmentation`; the default title gives the method,
    heart rate and cycles (:func:`~heartsound.plotting.scene.segmentation_title`)."""
    fig = new_figure(SEGMENTATION_FIGSIZE)
    ax = fig.add_subplot(1, 1, 1)
    plot_segmentation(seg, y, sr, ax=ax, reference=reference,
                      title=segmentation_title(seg) if title is None else title)
    fig.subplots_adjust(**SEGMENTATION_ADJUST)
    return fig


def segmentation_png(y: np.ndarray, sr: float, seg: Segmentation, *,
                     title: str | None = None,
                     reference: Iterable[tuple[str, float]] | None = None,
                     dpi: float = 90) -> bytes:
    """:func:`segmentation_figure` drawn with Pillow, as PNG bytes (990 x 270 px at the
    default ``dpi``; matplotlib is not imported).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : float
        Sample rate of ``y`` in Hz.
    seg : Segmentation
    title : str, optional
        Default: method, heart rate and cycles.
    reference : iterable of (sound, time_s), optional
        Reference sounds drawn as triangles at the bottom (S1 red, S2 blue).
    dpi : float
    """
    from ..plotting.raster_report import segmentation_png as draw  # Pillow: only for a PNG

    return draw(y, sr, seg.rows(), title_line=segmentation_title(seg) if title is None
                else title, reference=reference, dpi=dpi)


def save_segmentation_png(path: str | Path, y: np.ndarray, sr: float, seg: Segmentation, *,
                          title: str | None = None, reference: Any = None) -> Path:
    """Write :func:`segmentation_png` to ``path``, atomically."""
    return write_atomic(path, segmentation_png(y, sr, seg, title=title, reference=reference))
