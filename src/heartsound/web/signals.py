"""What the browser draws and plays, computed from a recording's validated samples: a
min/max envelope per pixel column, a spectrogram image and 16-bit WAV bytes.

A 10-minute recording is never sent as samples to draw: the envelope has at most
:data:`MAX_COLUMNS` columns for any time window, the spectrogram at most
:data:`MAX_COLUMNS` columns too.
"""

from __future__ import annotations

import io as _io
from typing import Any

import numpy as np
import soundfile as sf

from ..errors import ParameterError
from ..io import resample
from ..plotting import minmax_envelope

__all__ = ["window", "envelope", "spectrogram_png", "wav_bytes", "MAX_COLUMNS",
           "PLAYBACK_MIN_SR"]

#: Most columns an envelope or spectrogram request may ask for.
MAX_COLUMNS = 4096
#: Audio sent to the browser has at least this rate (Hz): Web Audio decoders may refuse
#: the 2-4 kHz rates of some stethoscopes.
PLAYBACK_MIN_SR = 8000


def window(n: int, sr: float, t0: float | None, t1: float | None) -> tuple[int, int]:
    """Sample range ``[i0, i1)`` of the time window ``[t0, t1]`` s, clipped to the
    recording (whole recording when not given).

    Raises
    ------
    ParameterError
        ``t1 <= t0`` after clipping, or non-finite times.
    """
    dur = n / sr
    a = 0.0 if t0 is None else float(t0)
    b = dur if t1 is None else float(t1)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ParameterError("t0 and t1 must be finite seconds")
    a, b = max(0.0, a), min(dur, b)
    i0, i1 = int(a * sr), int(np.ceil(b * sr))
    if i1 - i0 < 2:
        raise ParameterError(f"empty time window [{t0}, {t1}] s of a {dur:.2f} s recording")
    return i0, i1


def _columns(columns: int) -> int:
    if not 1 <= int(columns) <= MAX_COLUMNS:
        raise ParameterError(f"columns must be 1..{MAX_COLUMNS}, got {columns}")
    return int(columns)


def envelope(y: np.ndarray, sr: float, *, t0: float | None = None,
             t1: float | None = None, columns: int = 2000) -> dict[str, Any]:
    """Min and max of ``y`` [shape=(n,)] per column over ``[t0, t1]`` s.

    Returns
    -------
    dict
        ``t0``, ``t1`` (s, the window actually covered), ``sr`` (Hz), ``samples_per_column``,
        ``lo``, ``hi`` (lists of floats rounded to 1e-4, one per column), ``peak`` (the
        recording's largest absolute value, for a stable vertical scale).
    """
    i0, i1 = window(y.size, sr, t0, t1)
    part = y[i0:i1]
    _, lo, hi = minmax_envelope(part, sr, _columns(columns))
    return {"t0": i0 / sr, "t1": i1 / sr, "sr": float(sr),
            "samples_per_column": -(-part.size // len(lo)),
            "lo": np.round(lo, 4).tolist(), "hi": np.round(hi, 4).tolist(),
            "peak": float(np.max(np.abs(y))) if y.size else 0.0}


def spectrogram_png(y: np.ndarray, sr: float, *, t0: float | None = None,
                    t1: float | None = None, width: int = 1200, height: int = 160,
                    fmax: float = 800.0) -> bytes:
    """An STFT spectrogram of ``[t0, t1]`` s as a bare PNG image (no axes): ``width``
    columns (time, left to right), ``height`` rows (0 Hz at the bottom to ``fmax``), dB
    over a 60 dB range, colour map ``magma`` (the report figure's table).

    Computed on :func:`~heartsound.plotting.scene.spectrogram_input` as the report
    figure's, so 256-sample windows give 7.8 Hz bins at any rate.
    """
    from scipy.signal import stft

    from ..plotting.colormap import MAGMA, colour_index
    from ..plotting.raster import Canvas
    from ..plotting.scene import spectrogram_input

    i0, i1 = window(y.size, sr, t0, t1)
    width, height = _columns(width), max(16, min(int(height), 1024))
    part, sr = spectrogram_input(np.asarray(y[i0:i1], dtype=np.float64), sr)
    nper = int(min(256, part.size))
    hop = max(1, min(nper // 2, part.size // width))
    f, _t, z = stft(part, fs=sr, nperseg=nper, noverlap=nper - hop, window="hann",
                    boundary=None, padded=False)
    keep = f <= min(fmax, sr / 2)
    db = 10 * np.log10(np.abs(z[keep]) ** 2 + 1e-12)  # [freq, time]
    cols = np.linspace(0, db.shape[1], width + 1).astype(int)
    cols = np.clip(cols, 0, db.shape[1] - 1)
    pooled = np.maximum.reduceat(db, cols[:-1], axis=1)  # loudest frame per column
    rows = np.linspace(0, pooled.shape[0] - 1, height).round().astype(int)
    img = pooled[rows][::-1]
    vmax = float(np.percentile(img, 99.5))
    canvas = Canvas(width, height, dpi=72)
    canvas.paste(np.ascontiguousarray(MAGMA[colour_index(img, vmax - 60, vmax)]), 0, 0)
    return canvas.png()


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """``y`` [shape=(n,)] as 16-bit PCM WAV, resampled up to :data:`PLAYBACK_MIN_SR` when
    slower; values beyond full scale are clipped."""
    out_sr = int(sr)
    if out_sr < PLAYBACK_MIN_SR:
        y, out_sr = resample(y, out_sr, PLAYBACK_MIN_SR), PLAYBACK_MIN_SR
    buf = _io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), out_sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()
