"""Log-Mel front end shared by classifier training and inference (numpy/scipy only).

Both :mod:`heartsound.training.classifier` and :mod:`heartsound.classification.inference`
call :func:`features` and :func:`crops` with the :class:`FrontendConfig` stored in the
model bundle, so the features a model was trained on and the features it sees at inference
cannot drift apart.

Design (after Ren et al. 2022, "Deep attention-based neural networks for explainable heart
sound classification", Machine Learning with Applications 9, 100322):

* analysis rate 2000 Hz (every corpus here has at least 2000 Hz; CirCor is stored at
  2000 Hz, so 2 kHz is the common rate; the paper used 4 kHz);
* Hamming window of 256 samples (128 ms) with 50 % overlap (hop 128 samples, 64 ms),
  no centre padding: a signal of ``n >= 256`` samples gives
  ``1 + (n - 256) // 128`` frames, frame ``k`` centred at ``(k * 128 + 128) / sr`` s;
* power spectrum -> 64 triangular Mel filters (HTK Mel scale, peak 1) between
  ``fmin = 25`` Hz and ``fmax = 1000`` Hz -> natural log;
* per-recording normalisation (``normalize="recording"``): subtract the mean and divide by
  the standard deviation of the whole recording's log-Mel values, which removes the
  recording gain (and, with ``"recording_bins"``, the per-band channel response); frames
  in a stretch without signal (``no_signal=``,
  :func:`heartsound.quality_silence.no_signal_spans`) are left out of the statistics;
* fixed-length model inputs: crops of ``crop_frames`` frames taken every ``crop_hop``
  frames over the whole recording; shorter recordings are tiled (repeated) to one crop;
* optional cardiac-phase channels (``phase_channels=True``, :func:`features`): four more
  columns per frame, the share of the frame's Hamming window that the segmenter labels
  S1, systole, S2 and diastole (:func:`phase_shares`), so a model knows which frames are
  systolic without having to find the heart sounds itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError, TooShortError
from ..io import resample, validate_audio
from ..quality_silence import signal_frames
from ..segmentation import segment
from ..vocab import ANALYSIS_SR, STATES

if TYPE_CHECKING:  # pragma: no cover
    from ..frontend import Frontend

__all__ = ["FrontendConfig", "mel_filterbank", "hz_to_mel", "mel_to_hz", "n_frames",
           "frame_times", "log_mel", "phase_shares", "with_phases", "features",
           "NORMALIZATIONS", "PHASES"]

#: Per-recording normalisations by name.
NORMALIZATIONS = ("recording", "recording_bins", "none")

#: Cardiac phases of the phase channels, in column order (segmentation states 1-4).
PHASES = STATES
#: Frames per block in :func:`log_mel` (bounds its memory; same values as one block).
_CHUNK_FRAMES = 2048


@dataclass(frozen=True)
class FrontendConfig:
    """Every parameter of the front end; stored in each model bundle.

    Attributes
    ----------
    sr : int
        Analysis rate in Hz; input audio is resampled to it.
    n_fft : int
        Hamming window length in samples (also the FFT size).
    hop_length : int
        Hop in samples (``n_fft // 2``: 50 % overlap).
    n_mels : int
        Number of Mel bands.
    fmin, fmax : float
        Lowest and highest filter edges in Hz (``fmax <= sr / 2``).
    normalize : str
        One of :data:`NORMALIZATIONS`.
    crop_frames : int
        Frames per model input (64 frames = 4.16 s at the defaults).
    crop_hop : int
        Hop between crops in frames at inference (half a crop).
    phase_channels : bool
        Append the four :data:`PHASES` shares of each frame (:func:`features`) to the
        ``n_mels`` log-Mel values, giving ``n_features = n_mels + 4`` columns.
    """

    sr: int = ANALYSIS_SR
    n_fft: int = 256
    hop_length: int = 128
    n_mels: int = 64
    fmin: float = 25.0
    fmax: float = 1000.0
    normalize: str = "recording"
    crop_frames: int = 64
    crop_hop: int = 32
    phase_channels: bool = False

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ParameterError(f"unknown normalisation {self.normalize!r}; valid: "
                                 f"{', '.join(NORMALIZATIONS)}")
        if not 0 <= self.fmin < self.fmax <= self.sr / 2:
            raise ParameterError(f"need 0 <= fmin < fmax <= sr/2, got fmin={self.fmin}, "
                                 f"fmax={self.fmax}, sr={self.sr}")
        if self.hop_length <= 0 or self.n_fft <= 0 or self.crop_frames <= 0 or self.crop_hop <= 0:
            raise ParameterError("n_fft, hop_length, crop_frames and crop_hop must be positive")

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sr / self.hop_length

    @property
    def crop_seconds(self) -> float:
        """Duration of one model input in seconds."""
        return ((self.crop_frames - 1) * self.hop_length + self.n_fft) / self.sr

    @property
    def n_features(self) -> int:
        """Columns per frame of :func:`features`."""
        return self.n_mels + (len(PHASES) if self.phase_channels else 0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.phase_channels:  # bundles and feature caches from before compare equal
            d.pop("phase_channels")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontendConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK Mel scale: ``m = 2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular Mel filters with peak 1.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    n_fft : int
        FFT size; the filters act on ``n_fft // 2 + 1`` bins at ``k * sr / n_fft`` Hz.
    n_mels : int
        Number of filters; their centres are equally spaced on the Mel scale strictly
        between ``fmin`` and ``fmax``.
    fmin, fmax : float
        Lower edge of the first and upper edge of the last filter in Hz.

    Returns
    -------
    np.ndarray [shape=(n_mels, n_fft // 2 + 1)]

    Raises
    ------
    ParameterError
        If a filter would contain no FFT bin (too many bands for the resolution).
    """
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, ce, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / (ce - lo)
    down = (hi - freqs[None, :]) / (hi - ce)
    fb = np.maximum(0.0, np.minimum(up, down))
    if np.any(fb.max(axis=1) <= 0):
        raise ParameterError(f"{n_mels} Mel bands between {fmin} and {fmax} Hz leave empty "
                             f"filters at n_fft={n_fft}, sr={sr}; use fewer bands or more bins")
    return fb


def n_frames(n_samples: int, config: FrontendConfig = FrontendConfig()) -> int:
    """Number of frames for a signal of ``n_samples`` at ``config.sr``:
    ``1 + (n - n_fft) // hop_length`` (0 when shorter than one window)."""
    if n_samples < config.n_fft:
        return 0
    return 1 + (n_samples - config.n_fft) // config.hop_length


def frame_times(n: int, config: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Centre time in seconds of each of ``n`` frames."""
    return (np.arange(n) * config.hop_length + config.n_fft / 2) / config.sr


def _prepare(y: np.ndarray, sr: int, config: FrontendConfig,
             frontend: Frontend | None = None) -> np.ndarray:
    if frontend is not None:  # validated when it was built; resampled once per rate
        y = frontend.resampled(config.sr)
    else:
        y = validate_audio(y, sr, min_duration_s=0.0)
        if int(sr) != config.sr:
            y = resample(y, int(sr), config.sr)
    # one window at least; shorter signals are tiled (repeated), not zero-padded
    if len(y) < config.n_fft:
        y = np.tile(y, int(np.ceil(config.n_fft / len(y))))
    return y


def log_mel(y: np.ndarray, sr: int, config: FrontendConfig = FrontendConfig(), *,
            frontend: Frontend | None = None,
            no_signal: list[tuple[float, float]] | None = None) -> np.ndarray:
    """Normalised log-Mel spectrogram of a whole recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples at ``sr``.
    sr : int
        Sample rate in Hz; resampled (polyphase) to ``config.sr``.
    config : FrontendConfig
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end: its samples, resampled to ``config.sr`` once per
        recording, are used instead of ``y`` (not validated again).
    no_signal : list of (start_s, end_s), optional
        Stretches without signal: frames centred in them are left out of the
        normalisation's statistics (not out of the output).

    Returns
    -------
    np.ndarray [shape=(n_frames, n_mels), dtype=float32]
        ``log(mel_power + 1e-10)``, normalised per recording as ``config.normalize`` says.
        Frame ``k`` is centred at :func:`frame_times`.

    Raises
    ------
    AudioError
        Empty, silent or non-finite input, or a sample rate below 500 Hz.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.sin(2 * np.pi * 100 * np.arange(4000) / 2000)
    >>> log_mel(y, 2000).shape
    (30, 64)
    """
    if frontend is not None:  # the same spectrogram for every model and the profile
        key = ("log_mel", config.sr, config.n_fft, config.hop_length, config.n_mels,
               config.fmin, config.fmax)
        m = frontend.cached(key, lambda: _log_mel_raw(y, sr, config, frontend))
    else:
        m = _log_mel_raw(y, sr, config, None)
    n = len(m)
    if config.normalize == "none":
        return m.astype(np.float32)
    keep = signal_frames(frame_times(n, config), no_signal)
    s = m if keep is None else m[keep]  # the statistics' frames
    mu = s.mean() if config.normalize == "recording" else s.mean(axis=0, keepdims=True)
    sd = _std(s)
    out = np.empty((n, config.n_mels), np.float32)
    for i in range(0, n, _CHUNK_FRAMES):  # (m - mean) / (sd + eps) block by block
        out[i:i + _CHUNK_FRAMES] = (m[i:i + _CHUNK_FRAMES] - mu) / (sd + 1e-6)
    return out


def _log_mel_raw(y: np.ndarray, sr: int, config: FrontendConfig,
                 frontend: Frontend | None) -> np.ndarray:
    """``log(mel_power + 1e-10)`` [shape=(n_frames, n_mels), float64], not normalised."""
    from scipy.signal import get_window

    y = _prepare(y, sr, config, frontend)
    n = n_frames(len(y), config)
    frames = np.lib.stride_tricks.sliding_window_view(y, config.n_fft)[::config.hop_length]
    win = get_window("hamming", config.n_fft, fftbins=True)
    fb = mel_filterbank(config.sr, config.n_fft, config.n_mels, config.fmin, config.fmax)
    m = np.empty((n, config.n_mels))
    for i in range(0, n, _CHUNK_FRAMES):  # blocks keep the FFT temporaries bounded
        spec = np.abs(np.fft.rfft(frames[i:i + _CHUNK_FRAMES] * win, n=config.n_fft,
                                  axis=1)) ** 2
        m[i:i + _CHUNK_FRAMES] = np.log(spec @ fb.T + 1e-10)
    return m


def _std(m: np.ndarray) -> float:
    """``m.std()`` (over all elements) summed block by block: no temporary of ``m``'s
    size (equal to ``np.std`` up to the summation order, ~1e-16 relative)."""
    mu = m.mean()
    ss = sum(float(np.square(m[i:i + _CHUNK_FRAMES] - mu).sum())
             for i in range(0, len(m), _CHUNK_FRAMES))
    return float(np.sqrt(ss / max(m.size, 1)))


def phase_shares(states: np.ndarray, state_rate: float, n: int,
                 config: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Share of each analysis frame in each cardiac phase.

    Every segmentation frame ``j`` (centred at ``(j + 0.5) / state_rate`` s) that falls in
    the Hamming window of analysis frame ``k`` (samples ``k * hop`` to ``k * hop + n_fft``
    at ``config.sr``) adds the window's value there to its state's column; the columns are
    then divided by the window's total over all segmentation frames in it. Unsegmented
    frames (state 0) count in the total only, so a row sums to the segmented share.

    Parameters
    ----------
    states : np.ndarray [shape=(m,)]
        Segmentation states: 0 undefined, 1 S1, 2 systole, 3 S2, 4 diastole.
    state_rate : float
        Frames per second of ``states`` (:data:`heartsound.vocab.FRAME_RATE` for the HSMM
        segmenters).
    n : int
        Number of analysis frames (rows of :func:`log_mel`).
    config : FrontendConfig

    Returns
    -------
    np.ndarray [shape=(n, 4), dtype=float32]
        Columns :data:`PHASES`; rows in ``[0, 1]`` and summing to at most 1.

    Examples
    --------
    >>> import numpy as np
    >>> states = np.repeat([1, 2], 50)           # 1 s of S1, then 1 s of systole at 50 Hz
    >>> shares = phase_shares(states, 50.0, 30)
    >>> shares[0].round(2).tolist(), shares[-1].round(2).tolist()
    ([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0])
    """
    s = np.asarray(states).astype(int)
    onehot = np.zeros((len(s) + 1, len(PHASES)), np.float64)  # last row: beyond the end
    known = (s >= 1) & (s <= len(PHASES))
    onehot[np.flatnonzero(known), s[known] - 1] = 1.0
    start = np.arange(n) * config.hop_length / config.sr
    width = config.n_fft / config.sr
    first = np.floor(start * state_rate - 0.5).astype(int)
    out = np.zeros((n, len(PHASES)))
    total = np.zeros(n)
    for o in range(int(np.ceil(width * state_rate)) + 2):
        j = first + o
        pos = ((j + 0.5) / state_rate - start) / width
        w = np.where((pos >= 0) & (pos < 1) & (j >= 0) & (j < len(s)),
                     0.54 - 0.46 * np.cos(2 * np.pi * pos), 0.0)
        out += w[:, None] * onehot[np.clip(j, -1, len(s))]
        total += w
    return (out / np.maximum(total, 1e-12)[:, None]).astype(np.float32)


def shares_of(states: np.ndarray, state_rate: float, n: int,
              config: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """:func:`phase_shares`, read-only and kept for the last few calls: the phase channels
    of two models and the occlusion of each finding ask for the same shares of one
    recording."""
    st = np.ascontiguousarray(states)
    grid = replace(config, normalize="none", phase_channels=False)  # what they depend on
    return _shares_kept(st.tobytes(), st.dtype.str, float(state_rate), int(n), grid)


@lru_cache(maxsize=4)
def _shares_kept(states: bytes, dtype: str, state_rate: float, n: int,
                 config: FrontendConfig) -> np.ndarray:
    out = phase_shares(np.frombuffer(states, dtype=dtype), state_rate, n, config)
    out.flags.writeable = False
    return out


def features(y: np.ndarray, sr: int, config: FrontendConfig = FrontendConfig(), *,
             segmentation: Any = None, frontend: Frontend | None = None,
             no_signal: list[tuple[float, float]] | None = None) -> np.ndarray:
    """The model input of a whole recording: :func:`log_mel`, followed with
    ``config.phase_channels`` by :func:`phase_shares` of its segmentation.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : int
    config : FrontendConfig
    segmentation : heartsound.segmentation.Segmentation, optional
        Used for the phase channels; default: :func:`heartsound.segmentation.segment` of
        ``y`` with the default (neural) method. A recording too short to segment gets
        all-zero phase channels (nothing segmented), as at its edges.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end (shared with the segmenter; see :func:`log_mel`).
    no_signal : list of (start_s, end_s), optional
        Stretches without signal, left out of the normalisation (:func:`log_mel`).

    Returns
    -------
    np.ndarray [shape=(n_frames, config.n_features), dtype=float32]
    """
    m = log_mel(y, sr, config, frontend=frontend, no_signal=no_signal)
    if not config.phase_channels:
        return m
    if segmentation is None:
        try:
            segmentation = segment(y, sr, frontend=frontend)
        except TooShortError:
            pass
    return with_phases(m, segmentation, config)


def with_phases(mel: np.ndarray, segmentation: Any, config: FrontendConfig = FrontendConfig()
                ) -> np.ndarray:
    """``mel`` (:func:`log_mel` output) followed by the :func:`phase_shares` of
    ``segmentation`` (all zero when it is None: nothing segmented).

    Returns
    -------
    np.ndarray [shape=(n_frames, n_mels + 4), dtype=float32]
    """
    n = len(mel)
    # the decoder's path before the presence check: what the models were trained on
    st = None if segmentation is None else getattr(segmentation, "decoded_states", None)
    st = segmentation.states if st is None and segmentation is not None else st
    p = (np.zeros((n, len(PHASES)), np.float32) if segmentation is None
         else shares_of(st, segmentation.frame_rate, n, config))
    return np.concatenate([np.asarray(mel, np.float32), p], axis=1)
