"""Loading recordings: any format libsndfile reads, validated, optionally resampled.

The one entry point is :func:`load`. Arrays handed to the pipeline directly go through
:func:`validate_audio` (or :meth:`Recording.from_array`), the same checks without the
file. Validation happens once per recording, at the public entry points (:func:`load`,
:func:`heartsound.segmentation.segment`, :func:`heartsound.classification.classify`,
:func:`heartsound.quality.assess`, and :meth:`heartsound.frontend.Frontend.from_signal`);
the stages behind them trust the validated :class:`~heartsound.frontend.Frontend`. The
limits are :data:`heartsound.vocab.MIN_SR` (500 Hz: below it S1/S2 energy up to ~200 Hz is
lost) and :data:`heartsound.vocab.MIN_DURATION_S` (1 s: one cardiac cycle at 60 bpm).

What cannot be analysed raises an :class:`~heartsound.errors.AudioError` naming the file
and the problem. What is analysed but not as recorded is never silent: a note in
:attr:`Recording.notes` (``quality.notes`` of the JSON), by code of :data:`NOTE_CODES`:
``truncated`` (the file ends before its header says; what is there is analysed),
``low_sample_rate`` (below 2000 Hz the content above ``sr / 2`` the models were made with
is missing), ``mixed_down`` (channels averaged), ``channels_cancel`` (opposite polarity:
the loudest channel alone instead of a near-silent mix), ``beyond_full_scale`` (float
samples beyond +-1, analysed as is), ``wfdb_header`` (an unreadable ``.hea`` ignored);
``no_signal`` (stretches without signal, added by :func:`heartsound.analyze`:
:mod:`heartsound.quality_silence`).
"""

from __future__ import annotations

import re
import stat
import warnings
from dataclasses import dataclass, field
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
from .resampling import resample
from .vocab import ANALYSIS_SR, MIN_DURATION_S, MIN_SR, PASS_BAND_HZ

__all__ = ["Recording", "load", "validate_audio", "resample", "read_wfdb_header",
           "MIN_DURATION_S", "MIN_SR", "NOTE_CODES"]

#: Codes of :attr:`Recording.notes`, in the order they are reported.
NOTE_CODES: tuple[str, ...] = ("truncated", "low_sample_rate", "mixed_down",
                               "channels_cancel", "beyond_full_scale", "wfdb_header",
                               "no_signal")
#: A mix whose RMS is below this share of its loudest channel's RMS "cancels".
CANCEL_RATIO = 0.1
#: Frames per block when re-reading a file that failed part-way (keeps what is readable).
_BLOCK = 1024
#: ``data``/``SSND`` chunk sizes meaning "unknown length" (streamed WAV, RF64).
_SIZE_SENTINELS = frozenset({0xFFFFFFFF, 0x7FFFFFFF})
#: libsndfile's log line of a chunk longer than the file.
_SHOULD_BE = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)


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
    notes : dict of str to str
        What was found about the recording that changes or may change the results, by
        code of :data:`NOTE_CODES` -> a sentence for the user (see the module docstring).
    """

    y: np.ndarray
    sr: int
    source: str = "<array>"
    meta: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.y) / self.sr

    @classmethod
    def from_array(cls, y: Any, sr: Any, *, source: str = "<array>",
                   min_duration_s: float = MIN_DURATION_S) -> Recording:
        """Validate samples given as an array (see :func:`validate_audio`), keeping the
        notes.

        Parameters
        ----------
        y : array-like [shape=(n,), (n, channels) or (channels, n)]
        sr : int
            Sample rate in Hz.
        """
        notes: dict[str, str] = {}
        shape = np.shape(y)
        mono = validate_audio(y, sr, source=source, min_duration_s=min_duration_s,
                              notes=notes)
        channels = 1 if len(shape) < 2 else int(min(shape))
        return cls(y=mono, sr=int(sr), source=source, notes=notes,
                   meta={"original_sr": int(sr), "channels": channels,
                         "duration_s": len(mono) / float(sr)})


def _check_rate(sr: Any, name: str) -> float:
    try:
        sr_f = float(sr)
    except (TypeError, ValueError):
        raise SampleRateError(name, f"sample rate {sr!r} is not a number") from None
    if not np.isfinite(sr_f) or sr_f < MIN_SR:
        raise SampleRateError(name, f"{sr} Hz; at least {MIN_SR} Hz is needed to keep heart sounds")
    return sr_f


def _mix_down(y: np.ndarray, notes: dict[str, str]) -> np.ndarray:
    """Mono of ``y`` [shape=(n, channels)]: the mean of the channels, or the loudest
    channel alone when the mean cancels (RMS below :data:`CANCEL_RATIO` of it)."""
    ch = y.shape[1]
    if ch == 1:
        return y[:, 0]
    mix = y.mean(axis=1)
    rms = np.sqrt(np.mean(np.square(y), axis=0))
    loud = int(np.argmax(rms))
    ratio = float(np.sqrt(np.mean(np.square(mix))) / rms[loud]) if rms[loud] > 0 else 1.0
    if ratio < CANCEL_RATIO:
        notes["channels_cancel"] = (
            f"the {ch} channels cancel when averaged (the mix keeps {100 * ratio:.1f}% of "
            f"the loudest channel's RMS: opposite polarity?); channel {loud + 1} of {ch} "
            "analysed alone")
        return y[:, loud]
    notes["mixed_down"] = f"{ch} channels mixed down to mono (averaged)"
    return mix


def _level_and_rate_notes(peak: float, n_over: int, sr: float, notes: dict[str, str]) -> None:
    if sr < ANALYSIS_SR:
        also = (f" and the segmenters up to {PASS_BAND_HZ[1]:g} Hz"
                if sr / 2 < PASS_BAND_HZ[1] else "")
        notes["low_sample_rate"] = (
            f"recorded at {sr:g} Hz: nothing above {sr / 2:g} Hz is present, while the "
            f"classifiers look up to {ANALYSIS_SR / 2:g} Hz{also}; results may differ "
            "from those of a full-band recording")
    if peak > 1.0:
        notes["beyond_full_scale"] = (
            f"{n_over} samples beyond full scale (peak |y| = {peak:.3g}): a float file not "
            "normalised to [-1, 1]; analysed as is")


def validate_audio(y: Any, sr: Any, *, source: str | Path | None = None,
                   min_duration_s: float = MIN_DURATION_S,
                   notes: dict[str, str] | None = None) -> np.ndarray:
    """Check samples and rate; return a 1-D float64 array (multi-channel mixed down).

    Parameters
    ----------
    y : array-like [shape=(n,), (n, channels) or (channels, n)]
    sr : float
        Sample rate in Hz.
    source : str or Path, optional
        Named in error messages.
    min_duration_s : float
    notes : dict, optional
        Filled with what was found (codes of :data:`NOTE_CODES`). Without it, a mix-down
        is reported as a :class:`UserWarning`.

    Raises
    ------
    AudioError
        The subclass that names the problem.
    """
    name = str(source) if source is not None else "<array>"
    sr_f = _check_rate(sr, name)
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NotAudioError(name, f"samples are not numbers ({exc})") from None
    if y.ndim == 2 and y.shape[1] > y.shape[0]:  # (channels, n) given
        y = y.T
    if y.ndim not in (1, 2):
        raise NotAudioError(name, f"expected a 1-D or 2-D array, got shape {y.shape}")
    if y.size == 0:
        raise EmptyAudioError(name)
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise NonFiniteAudioError(name, f"{bad} of {y.size} samples")
    found: dict[str, str] = {}
    peak = max(float(y.max()), -float(y.min()))  # no |y| copy of a long recording
    n_over = int(np.count_nonzero(y > 1.0)) + int(np.count_nonzero(y < -1.0))
    if y.ndim == 2:
        y = _mix_down(y, found)
    dur = y.size / sr_f
    if dur < min_duration_s:
        raise TooShortError(name, f"{dur:.2f} s; at least {min_duration_s:g} s needed")
    if not np.any(y):
        raise SilentAudioError(name)
    _level_and_rate_notes(peak, n_over, sr_f, found)
    if notes is not None:
        notes.update(found)
    else:
        for code in ("mixed_down", "channels_cancel"):
            if code in found:
                warnings.warn(f"{name}: {found[code]}", stacklevel=3)
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


@dataclass(frozen=True)
class _FileInfo:
    """What the file's header and libsndfile's log say, and the read error, if any."""

    sr: int
    channels: int
    format: str
    subtype: str
    frames: int
    log: str
    read_error: str | None


def _sf_message(exc: BaseException) -> str:
    """libsndfile's own words, without soundfile's ``Error opening <file object>:``."""
    msg = getattr(exc, "error_string", None) or str(exc)
    return msg.strip() or type(exc).__name__


def _read_frames(snd: Any) -> tuple[np.ndarray, str | None]:
    """All frames of an open ``soundfile.SoundFile`` [shape=(n, channels)]; when
    libsndfile fails part-way, the frames before the failure and its message."""
    import soundfile as sf

    errors = (sf.LibsndfileError, RuntimeError)
    try:
        return snd.read(dtype="float64", always_2d=True), None
    except errors as exc:
        err = _sf_message(exc)
    blocks = []
    try:
        snd.seek(0)
        while len(b := snd.read(_BLOCK, dtype="float64", always_2d=True)):
            blocks.append(b)
    except errors:
        pass
    data = np.concatenate(blocks) if blocks else np.zeros((0, snd.channels))
    return data, err


def _read_file(p: Path) -> tuple[np.ndarray, _FileInfo]:
    """Samples [shape=(n, channels)] and header of the audio file ``p``, or the
    :class:`~heartsound.errors.AudioError` that says why not."""
    import soundfile as sf

    try:
        st = p.stat()
    except FileNotFoundError:
        raise AudioFileNotFoundError(p) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise NotAudioError(p, getattr(exc, "strerror", None) or str(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise NotAudioError(p, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise NotAudioError(p, "not a regular file")
    if st.st_size == 0:
        raise EmptyAudioError(p, "file is 0 bytes")
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise NotAudioError(p, exc.strerror or str(exc)) from None
    with fh:
        try:
            snd = sf.SoundFile(fh)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise NotAudioError(p, _sf_message(exc)) from None
        with snd:
            data, err = _read_frames(snd)
            info = _FileInfo(int(snd.samplerate), int(snd.channels), snd.format, snd.subtype,
                             int(snd.frames), snd.extra_info or "", err)
    if data.shape[0] == 0:
        if err:
            raise NotAudioError(p, err)
        raise EmptyAudioError(p)
    return data, info


def _truncation(info: _FileInfo, n_read: int) -> str | None:
    """The ``truncated`` note when the file ends before its header says, else None."""
    got = f"{n_read / info.sr:.2f} s read"
    if info.read_error:
        return (f"reading failed after {n_read} of the {info.frames} frames the header "
                f"declares ({info.read_error}); {got}, the rest is missing")
    m = _SHOULD_BE.search(info.log)
    if m:
        declared, present = int(m.group(1)), int(m.group(2))
        if declared > present and declared not in _SIZE_SENTINELS:
            return (f"the header declares {declared} bytes of audio, the file holds "
                    f"{present} ({100 * (1 - present / declared):.0f}% missing): the end "
                    f"of the recording is cut off; {got}")
    if info.frames > n_read:
        return f"the header declares {info.frames} frames, only {n_read} were read; {got}"
    return None


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
        With :attr:`Recording.notes` for a truncated file, a low rate, a mix-down, values
        beyond full scale or an unreadable WFDB header.

    Raises
    ------
    AudioFileNotFoundError, NotAudioError, EmptyAudioError, TooShortError,
    SilentAudioError, NonFiniteAudioError, SampleRateError

    Examples
    --------
    >>> rec = load("9979_AV.flac", sr=1000)  # doctest: +SKIP
    >>> rec.y.shape, rec.sr  # doctest: +SKIP
    """
    p = Path(path)
    data, info = _read_file(p)
    notes: dict[str, str] = {}
    cut = _truncation(info, data.shape[0])
    if cut:
        notes["truncated"] = cut
    n_clipped = int(np.count_nonzero(np.abs(data) >= 0.999))
    y = validate_audio(data, info.sr, source=p, min_duration_s=min_duration_s, notes=notes)
    del data
    meta: dict[str, Any] = {
        "original_sr": info.sr, "channels": info.channels, "format": info.format,
        "subtype": info.subtype, "n_clipped": n_clipped, "duration_s": len(y) / info.sr,
    }
    hea = p.with_suffix(".hea")
    if hea.is_file():
        try:
            meta["wfdb"] = read_wfdb_header(hea)
        except (OSError, ValueError, IndexError) as exc:
            notes["wfdb_header"] = f"{hea.name} could not be read and was ignored ({exc})"
    out_sr = info.sr
    if sr is not None:
        if sr < MIN_SR:
            raise SampleRateError(p, f"requested {sr} Hz; at least {MIN_SR} Hz is needed")
        y = resample(y, info.sr, int(sr))
        out_sr = int(sr)
    return Recording(y=y, sr=out_sr, source=str(p), meta=meta, notes=notes)
