"""The front end of one recording: validated samples and the signals derived from them.

:class:`Frontend` is built once per recording (by :func:`heartsound.pipeline.analyze`,
or by any public stage called without one) and passed explicitly as ``frontend=`` to the
quality check, the segmenters and the classifiers. It is where the samples are
validated (:meth:`Frontend.from_signal`); a stage that receives a frontend trusts it.
The derived signals (resampled, band-passed, de-spiked, envelopes) are computed on first
use with the same functions the stages call on their own, and kept, so each is computed
once per recording and results are identical with or without sharing.

Memory (issue 14, item 9): only what a stage asks for is kept. The 1000 Hz resampled
signal made for the band-pass is not kept (the neural band energies ask for it later,
when the band-passed one is gone); the band-passed signal is de-spiked in place into
:meth:`~Frontend.clean`, keeping only the few zeroed stretches, from which
:meth:`~Frontend.bandpassed` is rebuilt when asked for again. :meth:`~Frontend.release`
drops everything and hands the freed heap back to the operating system.

Derived signals
    :meth:`~Frontend.resampled` (any rate), :meth:`~Frontend.bandpassed` and
    :meth:`~Frontend.clean` (steps 1-2 and 1-3 of :func:`heartsound.preprocess.preprocess`,
    1000 Hz), :meth:`~Frontend.hilbert` and :meth:`~Frontend.homomorphic` (the envelopes of
    :meth:`~Frontend.clean`, 1000 Hz).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParameterError, TooShortError
from .features import hilbert_envelope, homomorphic_envelope
from .io import resample, validate_audio
from .preprocess import bandpass_centred, remove_spikes_in_place
from .quality_silence import spans_of
from .vocab import MIN_DURATION_S, PASS_BAND_HZ, PREPROCESS_SR

__all__ = ["Frontend", "as_frontend", "trim_heap"]


@dataclass(frozen=True, eq=False)
class Frontend:
    """One recording's samples and the signals the stages derive from them.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples, already validated (use :meth:`from_signal` for raw input). Kept as
        a read-only float64 view.
    sr : int
        Their sample rate in Hz (a whole number).
    source : str
        Name of the recording for messages (file path or ``"<array>"``).

    Notes
    -----
    Frozen: ``y`` and ``sr`` never change, so every cached derived signal stays valid.
    Treat the returned arrays as read-only.
    """

    y: np.ndarray
    sr: int
    source: str = "<array>"
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if int(self.sr) != self.sr:
            raise ParameterError(f"sample rate must be a whole number of Hz, got {self.sr}")
        y = np.asarray(self.y, dtype=np.float64)
        if y.ndim != 1:
            raise ParameterError(f"Frontend needs mono samples of shape (n,), got {y.shape}")
        y = y.view()
        y.flags.writeable = False
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "sr", int(self.sr))

    @classmethod
    def from_signal(cls, y: Any, sr: Any, *, source: str | None = None,
                    min_duration_s: float = MIN_DURATION_S) -> Frontend:
        """Validate raw samples (:func:`heartsound.io.validate_audio`) and wrap them.

        Raises
        ------
        AudioError
            Empty, too short, silent or non-finite samples, or a rate below 500 Hz.
        ParameterError
            A sample rate that is not a whole number of Hz.
        """
        y = validate_audio(y, sr, source=source, min_duration_s=min_duration_s)
        return cls(y, sr, source="<array>" if source is None else str(source))

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.y.size / self.sr

    def release(self) -> None:
        """Forget every derived signal (recomputed if asked for again), to free memory
        once the stages that share them have run, and return the freed heap to the
        operating system (:func:`trim_heap`)."""
        self._memo.clear()
        trim_heap()

    def cached(self, key: Any, make: Callable[[], np.ndarray]) -> np.ndarray:
        """``make()``, computed on the first call with ``key`` and kept until
        :meth:`release` (for a stage's own derived array, e.g. the classifiers'
        spectrogram; ``key`` must name everything the array depends on besides the
        recording)."""
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = make()
        return v

    def resampled(self, sr_out: int) -> np.ndarray:
        """``io.resample(y, sr, sr_out)`` [shape=(ceil(n sr_out / sr),)]."""
        return self.cached(("resampled", int(sr_out)),
                         lambda: resample(self.y, self.sr, int(sr_out)))

    def bandpassed(self, *, target_sr: int = PREPROCESS_SR,
                   band_hz: tuple[float, float] = PASS_BAND_HZ) -> np.ndarray:
        """Steps 1-2 of :func:`~heartsound.preprocess.preprocess`: resampled, mean
        removed, band-passed [shape=(ceil(n target_sr / sr),)].

        Once :meth:`clean` exists this is rebuilt from it (a new array each call, not
        kept): its zeroed stretches are written back."""
        key = (int(target_sr), tuple(band_hz))
        clean = self._memo.get(("clean", *key))
        if clean is None:
            return self.cached(("bandpassed", *key), lambda: self._bandpass(*key))
        b = clean.copy()
        for start, values in reversed(self._memo[("spikes", *key)]):
            b[start:start + values.size] = values
        return b

    def _bandpass(self, target_sr: int, band_hz: tuple[float, float]) -> np.ndarray:
        x = self._memo.get(("resampled", target_sr))
        x = resample(self.y, self.sr, target_sr) if x is None else x  # not kept
        return bandpass_centred(x, target_sr, band_hz)

    def clean(self, *, target_sr: int = PREPROCESS_SR,
              band_hz: tuple[float, float] = PASS_BAND_HZ) -> np.ndarray:
        """:func:`~heartsound.preprocess.preprocess` output (band-passed, de-spiked):
        the band-passed signal de-spiked in place (it is not kept beside it)."""
        key = (int(target_sr), tuple(band_hz))
        if ("clean", *key) not in self._memo:
            b = self._memo.pop(("bandpassed", *key), None)  # handed out: de-spike a copy
            b = self._bandpass(*key) if b is None else b.copy()
            self._memo[("spikes", *key)] = remove_spikes_in_place(b, key[0],
                                                                  no_signal=spans_of(self))
            self._memo[("clean", *key)] = b
        return self._memo[("clean", *key)]

    def hilbert(self) -> np.ndarray:
        """:func:`~heartsound.features.hilbert_envelope` of :meth:`clean` (1000 Hz)."""
        return self.cached("hilbert", lambda: hilbert_envelope(self.clean()))

    def homomorphic(self) -> np.ndarray:
        """:func:`~heartsound.features.homomorphic_envelope` of :meth:`clean` (1000 Hz)."""
        return self.cached("homomorphic", lambda: homomorphic_envelope(
            self.clean(), PREPROCESS_SR, hilbert=self.hilbert()))


def trim_heap() -> None:
    """Return freed heap memory to the operating system (glibc ``malloc_trim``; nothing
    elsewhere). Freed arrays below glibc's adaptive mmap threshold (up to 32 MB, which
    the 1000 Hz signals of an hour fall under) otherwise stay in the process's resident
    memory and add to the peak of every later stage."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


def as_frontend(y: Any, sr: Any, frontend: Frontend | None = None, *,
                source: str | None = None, min_duration_s: float = MIN_DURATION_S) -> Frontend:
    """The frontend a public stage works on: ``frontend`` when given, else one built
    (and validated) from ``y`` and ``sr``.

    A given frontend is trusted (not validated again), only checked to describe a
    recording of the same rate and length as ``y``, and to be at least
    ``min_duration_s`` long.

    Parameters
    ----------

    Raises
    ------
    ParameterError
        ``frontend`` was built from a recording of another rate or length.
    AudioError
        Invalid samples (when no frontend is given), or too short a recording.
    """
    if frontend is None:
        return Frontend.from_signal(y, sr, source=source, min_duration_s=min_duration_s)
    shape = np.shape(y) if y is not None else (frontend.y.size,)
    n = max(shape) if len(shape) == 2 else (shape[0] if shape else -1)
    if float(sr) != frontend.sr or n != frontend.y.size:
        raise ParameterError(f"frontend describes {frontend.y.size} samples at "
                             f"{frontend.sr} Hz, not these {n} at {sr} Hz")
    if frontend.duration_s < min_duration_s:
        raise TooShortError(frontend.source, f"{frontend.duration_s:.2f} s; at least "
                            f"{min_duration_s:g} s needed")
    return frontend
