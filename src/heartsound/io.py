"""Loading recordings: any format libsndfile reads, validated, optionally resampled.

The one entry point is :func:`load`. Arrays handed to the pipeline directly go through
:func:`validate_audio`, the same checks without the file. Validation happens once per
recording, at the public entry points (:func:`load`, :func:`heartsound.segmentation.segment`,
:func:`heartsound.classification.classify`, :func:`heartsound.quality.assess`, and
:meth:`heartsound.frontend.Frontend.from_signal`); the stages behind them trust the
validated :class:`~heartsound.frontend.Frontend`. The limits are
:data:`heartsound.vocab.MIN_SR` (500 Hz: below it S1/S2 energy up to ~200 Hz is lost) and
:data:`heartsound.vocab.MIN_DURATION_S` (1 s: one cardiac cycle at 60 bpm).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import (
    AudioFileNotFoundError,
    EmptyAudioError,
    NonFiniteAudioError,
    NotAudioError,
    SampleRateError,
    SilentAudioError,
    TooShortError,
)
from .vocab import MIN_DURATION_S, MIN_SR

__all__ = ["Recording", "load", "validate_audio", "resample", "read_wfdb_header",
           "MIN_DURATION_S", "MIN_SR"]

@dataclass
class Recording:
    """A validated mono recording.

    Attributes
    ----------
    y : np.ndarray [shape=(n,), dtype=float64]
        Samples, nominally in [-1, 1].
    sr : int
        Sample rate in Hz.
    source : str
        Path of the file, or ``"<array>"``.
    meta : dict
        ``original_sr``, ``channels``, ``subtype``, ``format``, ``n_clipped`` (samples at
        full scale), ``duration_s`` and, when a WFDB ``.hea`` sits beside the audio,
        ``wfdb`` (the parsed header).
    """

    y: np.ndarray
    sr: int
    source: str = "<array>"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.y) / self.sr


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``) from ``sr_in`` to ``sr_out``."""
    if sr_in == sr_out:
        return np.asarray(y, dtype=np.float64)
    from scipy.signal import resample_poly

    frac = Fraction(int(sr_out), int(sr_in)).limit_denominator(1000)
    return resample_poly(np.asarray(y, dtype=np.float64), frac.numerator, frac.denominator)


def validate_audio(y: Any, sr: Any, *, source: str | Path | None = None,
                   min_duration_s: float = MIN_DURATION_S) -> np.ndarray:
    """Check samples and rate; return a 1-D float64 array (multi-channel mixed down).

    Raises the :class:`~heartsound.errors.AudioError` subclass that names the problem.
    """
    name = str(source) if source is not None else "<array>"
    try:
        sr_f = float(sr)
    except (TypeError, ValueError):
        raise SampleRateError(name, f"sample rate {sr!r} is not a number") from None
    if not np.isfinite(sr_f) or sr_f < MIN_SR:
        raise SampleRateError(name, f"{sr} Hz; at least {MIN_SR} Hz is needed to keep heart sounds")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        if y.shape[1] > y.shape[0]:  # (channels, n) given
            y = y.T
        if y.shape[1] > 1:
            warnings.warn(f"{name}: {y.shape[1]} channels mixed down to mono", stacklevel=3)
        y = y.mean(axis=1)
    elif y.ndim != 1:
        raise NotAudioError(name, f"expected a 1-D or 2-D array, got shape {y.shape}")
    if y.size == 0:
        raise EmptyAudioError(name)
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise NonFiniteAudioError(name, f"{bad} of {y.size} samples")
    dur = y.size / sr_f
    if dur < min_duration_s:
        raise TooShortError(name, f"{dur:.2f} s; at least {min_duration_s:g} s needed")
    if not np.any(y):
        raise SilentAudioError(name)
    return y


def read_wfdb_header(path: str | Path) -> dict[str, Any]:
    """Parse a WFDB ``.hea`` header: record line, signal lines and ``#`` comments."""
    text = Path(path).read_text(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    comments = [ln[1:].strip() for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    out: dict[str, Any] = {"comments": comments, "signals": []}
    if body:
        parts = body[0].split()
        out["record"] = parts[0]
        if len(parts) > 1:
            out["n_signals"] = int(parts[1])
        if len(parts) > 2:
            out["fs"] = float(parts[2].split("/")[0])
        if len(parts) > 3:
            out["n_samples"] = int(parts[3])
        for ln in body[1:]:
            sp = ln.split()
            out["signals"].append({"file": sp[0], "format": sp[1] if len(sp) > 1 else "",
                                   "description": " ".join(sp[8:]) if len(sp) > 8 else ""})
    return out


def load(path: str | Path, *, sr: int | None = None,
         min_duration_s: float = MIN_DURATION_S) -> Recording:
    """Read a recording, mix it to mono, validate it and optionally resample it.

    Parameters
    ----------
    path : str or Path
        Any file libsndfile reads (WAV, FLAC, OGG, AIFF...), any rate and bit depth.
    sr : int, optional
        Target rate in Hz; ``None`` keeps the file's rate. Resampling is polyphase.
    min_duration_s : float
        Shorter recordings raise :class:`~heartsound.errors.TooShortError`.

    Returns
    -------
    Recording

    Raises
    ------
    AudioFileNotFoundError, NotAudioError, EmptyAudioError, TooShortError,
    SilentAudioError, NonFiniteAudioError, SampleRateError

    Examples
    --------
    >>> rec = load("9979_AV.flac", sr=1000)  # doctest: +SKIP
    >>> rec.y.shape, rec.sr  # doctest: +SKIP
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioFileNotFoundError(p)
    if p.is_dir():
        raise NotAudioError(p, "is a directory")
    if p.stat().st_size == 0:
        raise EmptyAudioError(p, "file is 0 bytes")
    try:
        info = sf.info(os.fsencode(p))  # bytes: any name the OS allows (PEP 383)
        data, file_sr = sf.read(os.fsencode(p), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise NotAudioError(p, str(exc).strip() or type(exc).__name__) from None
    channels = data.shape[1]
    if data.shape[0] == 0:
        raise EmptyAudioError(p)
    n_clipped = int(np.count_nonzero(np.abs(data) >= 0.999))
    y = validate_audio(data, file_sr, source=p, min_duration_s=min_duration_s)
    meta: dict[str, Any] = {
        "original_sr": int(file_sr),
        "channels": int(channels),
        "format": info.format,
        "subtype": info.subtype,
        "n_clipped": n_clipped,
        "duration_s": len(y) / file_sr,
    }
    hea = p.with_suffix(".hea")
    if hea.exists():
        try:
            meta["wfdb"] = read_wfdb_header(hea)
        except (OSError, ValueError, IndexError):
            warnings.warn(f"{hea}: unreadable WFDB header ignored", stacklevel=2)
    out_sr = int(file_sr)
    if sr is not None:
        if sr < MIN_SR:
            raise SampleRateError(p, f"requested {sr} Hz; at least {MIN_SR} Hz is needed")
        y = resample(y, int(file_sr), int(sr))
        out_sr = int(sr)
    return Recording(y=y, sr=out_sr, source=str(p), meta=meta)
