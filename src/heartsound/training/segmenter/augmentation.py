"""Audio augmentation of the segmenter's training recordings, and the seeded noisy copies
the noise-robustness comparison scores."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import numpy as np

__all__ = ["add_noise", "augment", "noisy"]


def _coloured_noise(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^alpha (0 white, 1 pink, 2 brown), unit RMS."""
    w = rng.standard_normal(n)
    if alpha == 0:
        return w
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 2 else 1.0
    x = np.fft.irfft(spec / f ** (alpha / 2.0), n=n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator, *,
              alpha: float = 0.0) -> np.ndarray:
    """``y`` plus noise (``1/f^alpha``) at ``snr_db`` relative to the power of ``y``."""
    p = float(np.mean(np.asarray(y, dtype=np.float64) ** 2))
    noise = _coloured_noise(len(y), alpha, rng)
    return y + noise * math.sqrt(p / 10 ** (snr_db / 10.0))


def noisy(y: np.ndarray, snr_db: float | None, rid: str) -> np.ndarray:
    """``y`` with white noise at ``snr_db`` (seeded by the record id); None = ``y`` itself."""
    if snr_db is None:
        return y
    digest = int(hashlib.sha256(f"noise:{snr_db}:{rid}".encode()).hexdigest()[:12], 16)
    return add_noise(y, float(snr_db), np.random.default_rng(digest))


def augment(y: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One random augmentation of a recording.

    Random gain with clipping, additive white or coloured (pink, brown) noise at 0-30 dB
    SNR, band-limiting (random low-pass 150-800 Hz, high-pass 40-120 Hz), and a time
    stretch of the heart rate (audio resampled by 0.8-1.25).

    Returns
    -------
    y_aug : np.ndarray [shape=(round(n * stretch),)]
        The augmented audio, at the same nominal rate ``sr``.
    stretch : float
        Factor by which durations grew (label times are multiplied by it); 1.0 when the
        heart rate was left alone.
    """
    from scipy.signal import butter, resample_poly, sosfiltfilt  # heavy; not at --help time

    y = np.asarray(y, dtype=np.float64)
    stretch = 1.0
    if rng.random() < 0.7:  # heart-rate change: play 0.8-1.25 times as long
        stretch = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        frac = Fraction(stretch).limit_denominator(40)
        stretch = frac.numerator / frac.denominator
        y = resample_poly(y, frac.numerator, frac.denominator)
    if rng.random() < 0.35:  # band-limiting of a cheap stethoscope / phone
        lp = rng.uniform(150.0, 800.0)
        if lp < 0.45 * sr:
            y = sosfiltfilt(butter(4, lp, "low", fs=sr, output="sos"), y)
    if rng.random() < 0.2:
        hp = rng.uniform(40.0, 120.0)
        y = sosfiltfilt(butter(2, hp, "high", fs=sr, output="sos"), y)
    if rng.random() < 0.6:  # additive noise: white, pink or brown
        alpha = float(rng.choice([0.0, 1.0, 2.0]))
        y = add_noise(y, float(rng.choice([0, 5, 10, 15, 20, 30])), rng, alpha=alpha)
    gain = 10 ** (rng.uniform(-20, 12) / 20.0)  # random gain; loud gains clip
    y = y * gain
    if rng.random() < 0.3:
        y = np.clip(y, -1.0, 1.0)
    return y, stretch
