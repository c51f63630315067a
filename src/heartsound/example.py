"""The example recording behind ``heartsound analyze --example``: a synthetic PCG.

No audio is stored in the package. :func:`synthetic_pcg` builds a 10 s phonocardiogram
from a fixed seed, with known S1 and S2 positions and a systolic murmur, and
:func:`example_path` writes it once as FLAC (with its true segmentation as a CirCor-style
``.tsv``) into the user's cache folder, so that the first command of the README runs the
whole pipeline on a fresh install with no data at all.

The sounds follow the textbook description of a normal PCG with a murmur: S1 a ~100 ms
low-pitched burst (dominant 30-100 Hz), S2 a shorter, higher-pitched one (60-150 Hz),
the systolic interval ~0.32 s at 75 bpm, and a crescendo-decrescendo (diamond) murmur of
band-limited noise (100-400 Hz) filling mid-systole, over faint broadband noise. The
example demonstrates the pipeline; it is not evidence of accuracy.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from .serialize import tsv_text, write_atomic

__all__ = ["EXAMPLE_SR", "EXAMPLE_SECONDS", "synthetic_pcg", "example_path", "cache_dir"]

EXAMPLE_SR = 2000
EXAMPLE_SECONDS = 10.0
_SEED = 68306
_VERSION = 1  # bump when the signal changes, so cached files are rebuilt


def _burst(sr: int, dur_s: float, f0: float, f1: float, rng: np.random.Generator) -> np.ndarray:
    """A Hann-windowed chirp from ``f0`` to ``f1`` Hz with a little noise, peak 1."""
    n = max(2, int(round(dur_s * sr)))
    t = np.arange(n) / sr
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur_s * t ** 2)
    x = np.sin(phase + rng.uniform(0, 2 * np.pi)) + 0.15 * rng.standard_normal(n)
    x *= np.hanning(n)
    return x / np.max(np.abs(x))


def synthetic_pcg(*, seconds: float = EXAMPLE_SECONDS, sr: int = EXAMPLE_SR,
                  bpm: float = 75.0, systole_s: float = 0.32, murmur: bool = True,
                  seed: int = _SEED) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """A synthetic phonocardiogram with a known segmentation.

    Parameters
    ----------
    seconds : float
        Duration in seconds.
    sr : int
        Sample rate in Hz.
    bpm : float
        Mean heart rate; beat-to-beat intervals vary by 3 % (seeded).
    systole_s : float
        S1 onset to S2 onset in seconds.
    murmur : bool
        Add a mid-systolic diamond-shaped murmur.
    seed : int
        Seed of every random choice.

    Returns
    -------
    y : np.ndarray [shape=(round(seconds * sr),), dtype=float64]
        Samples in [-1, 1] (peak 0.8).
    rows : list of (start_s, end_s, state)
        The true segmentation, CirCor states (1 S1, 2 systole, 3 S2, 4 diastole); the
        stretch before the first S1 and after the last complete beat is state 0.
    """
    # separate streams: timing and sounds do not depend on whether a murmur is drawn
    rng, rng_noise, rng_murmur = np.random.default_rng(seed).spawn(3)
    n = int(round(seconds * sr))
    y = 0.004 * rng_noise.standard_normal(n)
    rr = 60.0 / bpm
    s1_dur, s2_dur = 0.10, 0.08
    rows: list[tuple[float, float, int]] = []
    t = 0.35
    while True:
        beat = rr * (1 + 0.03 * rng.standard_normal())
        if t + beat > seconds:
            break
        s2_on = t + systole_s
        for on, dur, f0, f1, amp in ((t, s1_dur, 80.0, 40.0, 1.0),
                                     (s2_on, s2_dur, 140.0, 70.0, 0.7)):
            b = _burst(sr, dur, f0, f1, rng) * amp * rng.uniform(0.85, 1.15)
            i = int(round(on * sr))
            y[i:i + b.size] += b[: n - i]
        if murmur:
            m_on, m_off = t + s1_dur + 0.02, s2_on - 0.03
            k = int(round((m_off - m_on) * sr))
            noise = np.fft.irfft(np.fft.rfft(rng_murmur.standard_normal(k))
                                 * ((np.fft.rfftfreq(k, 1 / sr) >= 100)
                                    & (np.fft.rfftfreq(k, 1 / sr) <= 400)), k)
            env = 1 - np.abs(np.linspace(-1, 1, k))  # crescendo-decrescendo
            i = int(round(m_on * sr))
            y[i:i + k] += 0.25 * env * noise / (np.max(np.abs(noise)) or 1.0)
        rows += [(t, t + s1_dur, 1), (t + s1_dur, s2_on, 2), (s2_on, s2_on + s2_dur, 3),
                 (s2_on + s2_dur, t + beat, 4)]
        t += beat
    rows = [(0.0, rows[0][0], 0)] + rows + [(rows[-1][1], n / sr, 0)]
    y *= 0.8 / np.max(np.abs(y))
    return y, [(round(a, 6), round(b, 6), s) for a, b, s in rows]


def cache_dir() -> Path:
    """Where heartsound writes files it builds for itself: ``$HEARTSOUND_CACHE``, else
    ``$XDG_CACHE_HOME/heartsound``, else ``~/.cache/heartsound``; the system temporary
    folder if none of these can be created."""
    env = os.environ.get("HEARTSOUND_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME")
                                      or Path.home() / ".cache") / "heartsound"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return base
    except OSError:
        d = Path(tempfile.gettempdir()) / "heartsound"
        d.mkdir(parents=True, exist_ok=True)
        return d


def example_path() -> Path:
    """Path of the example recording (``example.flac``, 10 s at 2000 Hz, built by
    :func:`synthetic_pcg` on first use, next to ``example.tsv`` with its true states).

    Examples
    --------
    >>> import heartsound
    >>> rec = heartsound.load(heartsound.example_path())
    >>> rec.sr, rec.duration_s
    (2000, 10.0)
    """
    import soundfile as sf

    d = cache_dir() / f"example-v{_VERSION}"
    path = d / "example.flac"
    if path.is_file() and (d / "example.tsv").is_file():
        return path
    y, rows = synthetic_pcg()
    buf = io.BytesIO()
    sf.write(buf, y, EXAMPLE_SR, format="FLAC", subtype="PCM_16")
    write_atomic(d / "example.tsv", tsv_text(rows))
    write_atomic(path, buf.getvalue())  # last: marks a complete pair
    return path
