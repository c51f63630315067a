"""Drawing a classification's attention over its log-Mel spectrogram, with the S1/S2
segmentation when one is given or :func:`heartsound.segment` is available."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_attention"]

_PHASE_COLOURS = {1: "tab:red", 2: "tab:orange", 3: "tab:blue", 4: "tab:green"}


def plot_attention(result: Any, y: np.ndarray | None = None, sr: int | None = None, *,
                   segmentation: Any = None, ax: Any = None, path: str | None = None) -> Any:
    """Spectrogram with the attention map overlaid, the attention over time, and the
    cardiac phases.

    Parameters
    ----------
    result : ClassificationResult
        From :func:`~heartsound.classification.classify` (holds the spectrogram and the
        stitched attention).
    y, sr : np.ndarray [shape=(n,)], int, optional
        The audio; used to segment the recording with :func:`heartsound.segment` when
        ``segmentation`` is None (skipped when segmentation is unavailable).
    segmentation : Segmentation, optional
        S1/systole/S2/diastole states to draw as coloured bands and summarise.
    ax : sequence of two matplotlib Axes, optional
        Axes for the spectrogram and the attention curve (new figure otherwise).
    path : str, optional
        Save the figure there (PNG/PDF/SVG by extension).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if segmentation is None and y is not None and sr is not None:
        try:
            from ..segmentation import segment
        except ImportError:
            segment = None
        if segment is not None:
            try:
                segmentation = segment(y, sr)
            except Exception:  # noqa: BLE001 - a figure without phases is still useful
                segmentation = None
    if ax is None:
        fig, ax = plt.subplots(2, 1, figsize=(10, 5), sharex=True,
                               gridspec_kw={"height_ratios": [3, 1]})
    else:
        fig = ax[0].figure
    t = result.attention_times_s
    spec = result.spectrogram
    fr = result.attention_freqs_hz
    n_mels = spec.shape[1] if spec is not None else 64
    extent = [t[0], t[-1], 0, n_mels]
    if spec is not None:
        ax[0].imshow(spec.T, origin="lower", aspect="auto", extent=extent, cmap="gray_r")
    att = result.attention
    if att.ndim == 2:
        ax[0].imshow(att.T, origin="lower", aspect="auto", extent=extent, cmap="magma",
                     alpha=0.45)
        curve = att.sum(axis=1)
    else:
        curve = att
    if fr is not None:
        ticks = np.linspace(0, n_mels - 1, 5).astype(int)
        ax[0].set_yticks(ticks + 0.5)
        ax[0].set_yticklabels([f"{fr[i]:.0f}" for i in ticks])
        ax[0].set_ylabel("frequency (Hz, Mel scale)")
    else:
        ax[0].set_ylabel("Mel band")
    probs = ", ".join(f"{k} {v:.2f}" for k, v in result.probabilities.items())
    ax[0].set_title(f"{result.task}: {result.label} ({probs})")
    ax[1].plot(t, curve, color="k", lw=1)
    ax[1].set_ylabel("attention")
    ax[1].set_xlabel("time (s)")
    if segmentation is not None:
        for a, b, s in segmentation.rows():
            if s in _PHASE_COLOURS:
                ax[1].axvspan(a, b, color=_PHASE_COLOURS[s], alpha=0.25, lw=0)
        shares = result.attention_by_phase(segmentation)
        ax[1].set_title("attention share: " + ", ".join(
            f"{k} {shares[k]:.2f}" for k in ("S1", "systole", "S2", "diastole")), fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
