"""The ``ax``-level panels of heartsound's figures (see :mod:`heartsound.plotting`).

Each takes ``ax=`` (a new figure on the Agg canvas otherwise) and returns the ``Axes`` it
drew on; matplotlib is imported only inside :func:`new_figure` and the panels' callers.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ..vocab import DIASTOLE, S1, S2, STATE_NAMES, SYSTOLE

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_segmentation", "plot_attention", "plot_attention_curve", "plot_spectrogram",
           "plot_probabilities", "minmax_envelope", "attention_curve", "new_figure",
           "png_bytes", "reset_axes", "PHASE_COLOURS"]

#: Band colour of each state.
PHASE_COLOURS = {S1: "#d62728", SYSTOLE: "#ffbb78", S2: "#1f77b4", DIASTOLE: "#aec7e8"}
_PHASE_ALPHA = {S1: 0.45, SYSTOLE: 0.25, S2: 0.45, DIASTOLE: 0.25}
Rows = Iterable[tuple[float, float, int]]
#: zlib level of the PNGs: 3 writes a report figure in half the time of Pillow's default
#: 6, at the same size within 1 %.
PNG_COMPRESS_LEVEL = 3


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def reset_axes(ax: Axes) -> None:
    """Take away what the panels drew on ``ax`` (artists, legend, labels, titles, data
    limits, y inversion), keeping the axes, their ticks and their shared and twin axes,
    so the same panels can draw on it again with the same result as on a new figure."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.images, *ax.texts]:
        artist.remove()
    ax.containers[:] = []
    if ax.legend_ is not None:
        ax.legend_.remove()
    for loc in ("center", "left", "right"):
        ax.set_title("", loc=loc)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.dataLim.set_points(np.array([[np.inf, np.inf], [-np.inf, -np.inf]]))
    ax.ignore_existing_data_limits = True
    ax.set_autoscale_on(True)
    ax.yaxis.set_inverted(False)


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return new_figure(figsize).add_subplot(1, 1, 1) if ax is None else ax


def _columns(ax: Axes) -> int:
    """Width of ``ax`` in pixels (at least 100)."""
    fig = ax.figure
    return max(100, int(ax.get_position().width * fig.get_figwidth() * fig.dpi))


def minmax_envelope(y: np.ndarray, sr: float, n_columns: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min and max of ``y`` over ``n_columns`` equal stretches (no copy of ``y``).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : float
        Sample rate in Hz.
    n_columns : int
        Columns wanted (pixels); the result has at most this many.

    Returns
    -------
    t, lo, hi : np.ndarray [shape=(m,)]
        Centre time (s), minimum and maximum of each stretch.
    """
    k = -(-y.size // max(1, n_columns))
    m = y.size // k
    body = y[: m * k].reshape(m, k)
    lo, hi = body.min(axis=1), body.max(axis=1)
    t = (np.arange(m) + 0.5) * k / sr
    if m * k < y.size:  # the short last stretch
        rest = y[m * k:]
        lo, hi = np.append(lo, rest.min()), np.append(hi, rest.max())
        t = np.append(t, (m * k + 0.5 * rest.size) / sr)
    return t, lo, hi


def _waveform(ax: Axes, y: np.ndarray, sr: float) -> float:
    """Draw ``y`` (an envelope per pixel column when longer than 2 samples per column);
    returns the peak amplitude."""
    n_px = 2 * _columns(ax)
    if y.size > 2 * n_px:
        t, lo, hi = minmax_envelope(y, sr, n_px)
        ax.fill_between(t, lo, hi, color="k", lw=0.3)
        peak = max(float(-lo.min()), float(hi.max()))
    else:
        ax.plot(np.arange(y.size) / sr, y, color="k", lw=0.5)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
    return peak or 1.0


def _bands(ax: Axes, rows: Rows, lim: float) -> bool:
    """Shade each state's rows over ``[-lim, lim]``; True when anything was drawn."""
    spans: dict[int, list[tuple[float, float]]] = {s: [] for s in PHASE_COLOURS}
    for a, b, s in rows:
        if s in spans:
            spans[s].append((a, b - a))
    for s, sp in spans.items():
        if sp:
            ax.broken_barh(sp, (-lim, 2 * lim), facecolors=PHASE_COLOURS[s],
                           alpha=_PHASE_ALPHA[s], label=STATE_NAMES[s], lw=0)
    return any(spans.values())


def plot_segmentation(segmentation: Any = None, y: np.ndarray | None = None,
                      sr: float | None = None, *, ax: Axes | None = None,
                      rows: Rows | None = None, reference: Iterable[tuple[str, float]] | None = None,
                      title: str | None = None, legend: bool = True) -> Axes:
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
        lim = _waveform(ax, y, sr)
        end = y.size / sr
    if _bands(ax, rows, lim) and legend:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7,
                  frameon=False, borderaxespad=0.1)
    for sound, time_s in reference or ():
        ax.plot([time_s], [-lim], marker="^", ms=5, color=PHASE_COLOURS[S1 if sound == "S1"
                                                                         else S2])
    ax.set_ylim(-1.05 * lim, 1.05 * lim)
    ax.set_xlim(0, end or 1.0)
    ax.set_ylabel("amplitude")
    ax.set_xlabel("time (s)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def attention_curve(result: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Attention over time of a :class:`~heartsound.ClassificationResult` as
    ``(times_s, weights)`` (a time x frequency map summed over frequency), or None."""
    att = getattr(result, "attention", None) if result is not None else None
    times = getattr(result, "attention_times_s", None) if result is not None else None
    if att is None or times is None:
        return None
    w = np.asarray(att)
    # summed over frequency without a float64 copy of a time x frequency map
    w = w.sum(axis=1, dtype=float) if w.ndim == 2 else w.astype(float, copy=False)
    t = np.asarray(times, dtype=float)
    if w.ndim != 1 or w.size == 0 or t.shape != w.shape:
        return None
    return t, w


def _pool(a: np.ndarray, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over groups of rows of ``a`` [shape=(n_frames, ...)] so at most ``n`` remain
    (float64; ``a`` is not copied when it is already short enough)."""
    a = np.asarray(a)
    k = -(-len(t) // max(1, n))
    if k <= 1:
        return a.astype(float, copy=False), t
    m = len(t) // k
    return (a[: m * k].reshape(m, k, *a.shape[1:]).mean(axis=1, dtype=float),
            t[: m * k].reshape(m, k).mean(axis=1))


def plot_attention_curve(result: Any, *, ax: Axes | None = None, segmentation: Any = None,
                         colour: str = "k", ylim: float = 1.05, label: str | None = None
                         ) -> Axes:
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

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax, (11, 2))
    curve = attention_curve(result)
    if curve is None:
        ax.set_yticks([])
        return ax
    w, t = _pool(curve[1], curve[0], 2 * _columns(ax))  # at most 2 points per pixel
    if segmentation is not None:
        _bands(ax, segmentation.rows(), ylim)
        shares = result.attention_by_phase(segmentation)
        ax.set_title("attention share: " + ", ".join(
            f"{STATE_NAMES[s]} {shares[STATE_NAMES[s]]:.2f}" for s in PHASE_COLOURS),
            fontsize=9)
    ax.plot(t, w / (float(np.max(w)) or 1.0), color=colour, lw=1.1, label=label)
    ax.set_ylim(0, ylim)
    ax.set_yticks([0.0, 0.5, 1.0])
    ax.set_ylabel("attention (rel.)", fontsize=8)
    ax.tick_params(labelsize=7)
    if label:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False,
                  borderaxespad=0.1)
    return ax


def plot_attention(result: Any, *, ax: Axes | None = None, contours: bool = True,
                   curve: bool = True, twin: Axes | None = None) -> Axes:
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

    Returns
    -------
    matplotlib Axes
        The spectrogram's axes (the curve is on a twin).
    """
    ax = _axes(ax, (11, 3.5))
    n_cols = 2 * _columns(ax)
    ts = np.asarray(result.attention_times_s, dtype=float)
    spec, tsp = _pool(result.spectrogram, ts, n_cols)
    fs = result.attention_freqs_hz
    fs = np.arange(spec.shape[1]) if fs is None else np.asarray(fs, dtype=float)
    vmin, vmax = np.percentile(spec, [1, 99.5])
    ax.pcolormesh(tsp, fs, spec.T, shading="nearest", cmap="magma", vmin=vmin, vmax=vmax,
                  rasterized=True)
    amap = np.asarray(result.attention)
    if contours and amap.ndim == 2 and amap.max() > 0:
        amap, _ = _pool(amap, ts, n_cols)
        ax.contour(tsp, fs, amap.T / amap.max(), levels=[0.5, 0.8], colors=["#00e5ff"],
                   linewidths=[0.8, 1.4])
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")
    ax.set_title(f"log-Mel spectrogram; cyan contours (50 %, 80 % of peak) and white curve: "
                 f"attention of the {result.task} classifier for '{_attention_label(result)}'",
                 fontsize=9)
    if curve:
        plot_attention_curve(result, ax=ax.twinx() if twin is None else twin,
                             colour="white", ylim=1.6)
    return ax


def _attention_label(result: Any) -> str:
    """The class a result's attention map is of (``attention_label``, else ``label``)."""
    return str(getattr(result, "attention_label", None) or result.label)


def plot_spectrogram(y: np.ndarray, sr: float, *, ax: Axes | None = None,
                     fmax: float = 800.0) -> Axes:
    """STFT spectrogram (256-sample Hann windows, half overlap) in dB, up to ``fmax`` Hz."""
    from scipy.signal import spectrogram

    ax = _axes(ax, (11, 3.5))
    nper = min(256, len(y))
    f, ts, sxx = spectrogram(y, fs=sr, nperseg=nper, noverlap=nper // 2, window="hann")
    keep = f <= min(fmax, sr / 2)
    db, ts = _pool(10 * np.log10(sxx[keep].T + 1e-12), ts, 2 * _columns(ax))
    vmax = float(np.percentile(db, 99.5))
    ax.pcolormesh(ts, f[keep], db.T, shading="nearest", cmap="magma", vmin=vmax - 60,
                  vmax=vmax, rasterized=True)
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
    probs = c.get("probabilities") or {}
    if not probs:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, "classifier\nunavailable", ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="#777777")
        ax.set_title(task, fontsize=9)
        return ax
    names, vals = list(probs), list(probs.values())
    label = c.get("label")
    bars = ax.barh(names, vals, color=["#2ca02c" if n == label else "#999999"
                                       for n in names])
    ax.invert_yaxis()
    if c.get("uncertain"):
        for b in bars:
            b.set_hatch("//")
    ax.set_xlim(0, 1)
    ax.set_xticks([0.0, 0.5, 1.0])
    for yi, v in enumerate(vals):
        ax.text(min(v + 0.02, 0.8), yi, f"{v:.2f}", va="center", fontsize=8)
    _threshold_marks(ax, names, c.get("decision") or {})
    shown = "not assessable" if label is None else label
    ax.set_title(f"{task}: {shown}" + (" (uncertain)" if c.get("uncertain") else ""),
                 fontsize=9)
    rule = (c.get("decision") or {}).get("rule")
    if rule:
        ax.set_xlabel(textwrap.fill(rule, 48), fontsize=6.5)
    ax.tick_params(labelsize=8)
    return ax


def _threshold_marks(ax: Axes, names: list[str], dec: Mapping[str, Any]) -> None:
    """On the bar whose probability is the decision score (``P(<name>)``): the
    threshold as a black tick and the spread over windows as an error bar."""
    score_of = {f"P({n})": i for i, n in enumerate(names)}
    i = score_of.get(str(dec.get("score_name")))
    if i is None:
        return
    if dec.get("threshold") is not None:
        ax.plot([dec["threshold"]] * 2, [i - 0.45, i + 0.45], color="k", lw=1.5, ls="--")
    if dec.get("interval") is not None and dec.get("score") is not None:
        lo, hi = dec["interval"]
        ax.errorbar([dec["score"]], [i], xerr=[[dec["score"] - lo], [hi - dec["score"]]],
                    fmt="none", ecolor="k", capsize=2, lw=0.8)


def png_bytes(fig: Figure, *, dpi: int = 90) -> bytes:
    """``fig`` as PNG bytes (fixed layout: one draw, no tight bounding box; zlib level
    :data:`PNG_COMPRESS_LEVEL`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buf.getvalue()
