"""Figures of heartsound results, built from ``ax``-level panels.

Each panel draws on a matplotlib ``Axes`` you pass (``ax=``) or on a new figure, and
returns the ``Axes``:

* :func:`plot_segmentation`: the waveform with S1/S2 bands and systole/diastole shading;
* :func:`plot_attention`: a classifier's log-Mel input with its attention map as contours
  and its attention over time as a curve;
* :func:`plot_attention_curve`: attention over time alone, optionally over the phases;
* :func:`plot_spectrogram`: an STFT spectrogram (when no classifier ran);
* :func:`plot_probabilities`: the class probabilities of one task.

:func:`plot` composes them into the report figure of an :class:`~heartsound.Analysis`.

:func:`figure_png` writes that figure as PNG without matplotlib (what ``heartsound
analyze`` saves as ``<stem>.heartsound.png``): the same panels drawn with Pillow
(:mod:`.raster_report`), from the same description (:mod:`.scene`: texts, which attention
goes where, data reduced to the pixels, probability rows, layout). ``heartsound segment``
writes the first panel alone the same way
(:func:`heartsound.segmentation.plot.segmentation_png`). Both renderers take from
:mod:`.view` what time range the panels show (a recording over a minute: a 15 s zoom on
the attention and an overview strip of the whole), which stretches hold no signal (greyed,
labelled, no attention drawn over them) and whether a map is drawn at all (not the map
of a severity that was not graded).

matplotlib is imported only when a matplotlib figure is drawn, through the object API
with the Agg canvas (no pyplot state, no backend switch). Long recordings are drawn as a
min/max envelope per pixel column, so a 1-hour recording hands matplotlib a few thousand
points.
"""

from .figure import figure_png, plot
from .panels import (new_figure, plot_attention, plot_attention_curve, plot_probabilities,
                     plot_segmentation, plot_spectrogram, png_bytes)
from .scene import PHASE_COLOURS, attention_curve, minmax_envelope

__all__ = ["plot", "figure_png", "plot_segmentation", "plot_attention",
           "plot_attention_curve", "plot_spectrogram", "plot_probabilities", "minmax_envelope",
           "attention_curve", "new_figure", "png_bytes", "PHASE_COLOURS"]
