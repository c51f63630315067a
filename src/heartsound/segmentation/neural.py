"""Neural heart-sound segmentation: a small convolutional-recurrent network gives per-frame
state probabilities, and the duration-dependent HSMM of Springer et al. decodes them.

Method ``"neural"`` (the default segmenter). After Renna, Oliveira and Coimbra, "Deep
convolutional neural networks for heart sound segmentation", IEEE J. Biomed. Health
Inform. 23(6):2435-2445, 2019: a network replaces the logistic-regression emissions of the
LR-HSMM (Springer, Tarassenko and Clifford, IEEE Trans. Biomed. Eng. 63(4):822-832, 2016)
and the same extended Viterbi decoder turns its posteriors into a valid
S1 -> systole -> S2 -> diastole sequence.

Differences from Renna et al.: the 1-D U-Net reads the whole recording at once (fully
convolutional; padded to a multiple of 8 frames) instead of 64-frame windows whose
outputs are averaged, so any length works without windowing; the input adds five log band
energies to the Springer envelopes (see :func:`neural_features`).

Inference uses ONNX Runtime only (no torch). The network ships as
``heartsound/models/segmenter_neural.onnx``; its input layout, frame rate and labels are
stored in the ONNX metadata, which :func:`load_model` reads into a :class:`ModelBundle`.
Training lives in :mod:`heartsound.training.segmenter`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, ParameterError
from .result import Segmentation

__all__ = ["segment", "NeuralSegmenter", "ModelBundle", "load_model", "neural_features",
           "band_energies", "shift_states", "rate_from_posteriors", "BANDS_HZ", "FRAME_RATE", "MODEL_FILE", "STATE_LABELS"]

#: Frame rate of the features, the network and the decoder (Hz).
FRAME_RATE = 50.0
#: Frames by which the decoded states are moved earlier (see :func:`shift_states`).
SHIFT_FRAMES = 1
#: Shipped model file inside ``heartsound.models``.
MODEL_FILE = "segmenter_neural.onnx"
#: Output columns of the network.
STATE_LABELS = ("S1", "systole", "S2", "diastole")
#: Log band energies added to the Springer envelopes (Hz). S1 carries relatively more
#: energy below ~100 Hz and S2 more above; the envelopes alone are broadband.
BANDS_HZ: tuple[tuple[float, float], ...] = ((25, 45), (45, 80), (80, 140), (140, 250),
                                             (250, 400))
_BAND_SR = 1000          # rate the band energies are computed at (Hz)
_BAND_WIN = 80           # Hann window, samples at 1000 Hz (80 ms)
_BAND_NFFT = 128
_BAND_CHUNK = 4096       # frames per block of :func:`band_energies` (bounded memory)
_RUN_WINDOW = 8192       # frames per network call on long recordings (2.7 min)


def band_energies(y: np.ndarray, sr: float, n_frames: int) -> np.ndarray:
    """Log energies of :data:`BANDS_HZ` at 50 Hz, z-scored per recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples.
    sr : float
        Sample rate of ``y`` in Hz (>= 1000 keeps every band).
    n_frames : int
        Number of frames wanted; frame ``k`` is centred on ``k / 50`` s.

    Returns
    -------
    np.ndarray [shape=(n_frames, len(BANDS_HZ)), dtype=float32]
        ``log10`` of the power in each band of an 80 ms Hann-windowed frame, each column
        then standardised to zero mean and unit variance over the recording.
    """
    from ..io import resample

    x = resample(np.asarray(y, dtype=np.float64), int(round(sr)), _BAND_SR)
    hop = int(_BAND_SR / FRAME_RATE)
    half = _BAND_WIN // 2
    freqs = np.fft.rfftfreq(_BAND_NFFT, 1.0 / _BAND_SR)
    weights = np.stack([(freqs >= lo) & (freqs < hi) for lo, hi in BANDS_HZ], axis=1)
    win = np.hanning(_BAND_WIN)
    bands = np.empty((n_frames, len(BANDS_HZ)))
    for i in range(0, n_frames, _BAND_CHUNK):  # frame k: x[k hop - half : k hop + half]
        j = min(n_frames, i + _BAND_CHUNK)
        lo = i * hop - half
        xp = np.zeros((j - i - 1) * hop + _BAND_WIN)
        seg = x[max(0, lo): max(0, lo + xp.size)]
        xp[max(0, -lo):max(0, -lo) + seg.size] = seg
        frames = np.lib.stride_tricks.sliding_window_view(xp, _BAND_WIN)[::hop] * win
        power = np.abs(np.fft.rfft(frames, n=_BAND_NFFT, axis=1)) ** 2
        bands[i:j] = power @ weights.astype(np.float64)
    out = np.log10(bands + 1e-10 + 1e-6 * bands.mean(axis=0, keepdims=True))
    out -= out.mean(axis=0, keepdims=True)
    sd = out.std(axis=0, keepdims=True)
    out /= np.where(sd > 1e-8, sd, 1.0)
    return out.astype(np.float32)


def neural_features(y: np.ndarray, sr: float, *, prepared: Any = None
                    ) -> tuple[np.ndarray, float]:
    """The network's input: Springer envelopes plus log band energies, at 50 Hz.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Validated audio samples.
    sr : float
        Sample rate in Hz.
    prepared : heartsound.preprocess.Prepared, optional
        Signals already derived from this ``y`` (the 1 kHz resampled and pre-processed
        signals and the envelopes); built here when not given, so that the envelopes and
        the band energies share one resampling.

    Returns
    -------
    features : np.ndarray [shape=(n_frames, n_env + 5), dtype=float32]
        Columns: the envelopes of :func:`heartsound.features.springer_features`
        (z-scored per recording), then :func:`band_energies`.
    frame_rate : float
        50.0 Hz.
    """
    from ..features import springer_features
    from ..preprocess import Prepared

    if prepared is None or not prepared.matches(y, sr):
        prepared = Prepared(y, sr)
    env, fr = springer_features(prepared.y, prepared.sr, prepared=prepared)
    env = np.asarray(env, dtype=np.float32)
    if abs(float(fr) - FRAME_RATE) > 1e-9:
        raise ModelError(f"springer_features returned {fr} Hz frames; the neural segmenter "
                         f"needs {FRAME_RATE} Hz")
    bands = band_energies(prepared.resampled(_BAND_SR), _BAND_SR, env.shape[0])
    return np.concatenate([env, bands], axis=1), FRAME_RATE


@dataclass(frozen=True)
class ModelBundle:
    """A loaded segmentation network and what describes it.

    Attributes
    ----------
    path : str
        Where the ONNX file was read from.
    sha256 : str
        Checksum of the file.
    n_features : int
        Width of the input ``features [batch, time, n_features]``.
    frame_rate : float
        Frame rate of input and output (Hz).
    labels : tuple of str
        Output columns (``S1``, ``systole``, ``S2``, ``diastole``).
    metadata : dict
        Everything stored in the ONNX metadata (training data, hyper-parameters).
    session : onnxruntime.InferenceSession
    """

    path: str
    sha256: str
    n_features: int
    frame_rate: float
    labels: tuple[str, ...]
    time_multiple: int
    priors: np.ndarray | None = field(repr=False)
    sound_durations: dict[str, tuple[float, float]] | None = field(repr=False)
    metadata: dict[str, Any] = field(repr=False)
    session: Any = field(repr=False)

    def run(self, features: np.ndarray) -> np.ndarray:
        """Per-frame state probabilities, ``[n_frames, 4]``, for ``features [n_frames, F]``."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ParameterError(f"features must have shape (n_frames, {self.n_features}), "
                                 f"got {x.shape}")
        n = x.shape[0]
        # long recordings in windows on the pooling grid whose margins (64 x time_multiple
        # frames) cover the U-Net's receptive field (+-124 frames, 15.5 x time_multiple,
        # for the shipped one): the same output, and memory bounded by the window (ONNX
        # Runtime's arena keeps the largest input's activations)
        margin = 64 * self.time_multiple
        window = -(-_RUN_WINDOW // self.time_multiple) * self.time_multiple
        if n <= window + 2 * margin:
            return self._run_whole(x)
        out = np.empty((n, len(self.labels)))
        for s in range(0, n, window):
            a, e = max(0, s - margin), min(n, s + window)
            out[s:e] = self._run_whole(x[a:min(n, e + margin)])[s - a:e - a]
        return out

    def _run_whole(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        pad = (-n) % self.time_multiple
        if pad:
            x = np.concatenate([x, np.zeros((pad, x.shape[1]), np.float32)])
        (p,) = self.session.run(None, {"features": x[None]})
        return np.asarray(p[0, :n], dtype=np.float64)


def load_model(path: str | Path | None = None, *, n_threads: int = 1) -> ModelBundle:
    """Open a segmentation network with ONNX Runtime.

    Parameters
    ----------
    path : str or Path, optional
        An ONNX file made by :func:`heartsound.training.segmenter.export_onnx`; default
        the shipped ``segmenter_neural.onnx`` (read through ``importlib.resources``).
    n_threads : int
        Intra- and inter-op threads of the session (1 by default).

    Raises
    ------
    ModelError
        The file is missing, not an ONNX model, or lacks the expected metadata.
    """
    import onnxruntime as ort

    if path is None:
        from importlib.resources import files

        try:
            data = files("heartsound.models").joinpath(MODEL_FILE).read_bytes()
        except (FileNotFoundError, ModuleNotFoundError, OSError) as exc:
            raise ModelError(f"shipped model {MODEL_FILE} is missing from heartsound.models "
                             f"({exc})") from None
        where = f"heartsound.models/{MODEL_FILE}"
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelError(f"{path}: cannot read model ({exc.strerror or exc})") from None
        where = str(path)
    if int(n_threads) < 1:
        raise ParameterError(f"n_threads must be >= 1, got {n_threads}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(n_threads)
    opts.inter_op_num_threads = int(n_threads)
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own, undocumented exception types
        raise ModelError(f"{where}: not a valid ONNX model ({exc})") from None
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    try:
        n_features = int(meta["n_features"])
        frame_rate = float(meta["frame_rate"])
        labels = tuple(json.loads(meta["labels"]))
        multiple = int(meta.get("time_multiple", "1"))
        priors = np.asarray(json.loads(meta["state_priors"]), dtype=np.float64) \
            if "state_priors" in meta else None
        durs = {k: (float(v[0]), float(v[1]))
                for k, v in json.loads(meta["sound_durations"]).items()} \
            if "sound_durations" in meta else None
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{where}: not a heartsound segmentation model (metadata {exc})"
                         ) from None
    if labels != STATE_LABELS:
        raise ModelError(f"{where}: outputs {labels}, expected {STATE_LABELS}")
    return ModelBundle(path=where, sha256=hashlib.sha256(data).hexdigest(),
                       n_features=n_features, frame_rate=frame_rate, labels=labels,
                       time_multiple=multiple, priors=priors,
                       sound_durations=durs, metadata=meta, session=sess)


class NeuralSegmenter:
    """Segment heart sounds with the network + HSMM (method ``"neural"``).

    Parameters
    ----------
    model_path : str or Path, optional
        ONNX file; default the shipped model.
    n_threads : int
        ONNX Runtime threads (1 by default).
    shift_frames : int
        Frames by which the decoded states are moved earlier (:func:`shift_states`).

    Notes
    -----
    The model is loaded on first use (or by :meth:`load`) and kept; instances are cheap
    to create. Renna, Oliveira, Coimbra, IEEE JBHI 23(6), 2019; decoder from Springer,
    Tarassenko, Clifford, IEEE TBME 63(4), 2016.

    Examples
    --------
    >>> from heartsound.io import load
    >>> rec = load("../shared/data/circor2022/recordings/9979_AV.flac")  # doctest: +SKIP
    >>> seg = NeuralSegmenter().segment(rec.y, rec.sr)                     # doctest: +SKIP
    >>> seg.events()[:2]                                                    # doctest: +SKIP
    """

    method = "neural"

    def __init__(self, *, model_path: str | Path | None = None, n_threads: int = 1,
                 shift_frames: int = SHIFT_FRAMES) -> None:
        self.model_path = model_path
        self.n_threads = n_threads
        self.shift_frames = shift_frames
        self.model_: ModelBundle | None = None

    def load(self) -> NeuralSegmenter:
        """Load the ONNX model now (otherwise it is loaded by the first call)."""
        if self.model_ is None:
            self.model_ = load_model(self.model_path, n_threads=self.n_threads)
        return self

    def posteriors(self, y: Any, sr: Any, *, source: str | None = None,
                   prepared: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Features and per-frame state probabilities of a recording.

        Returns
        -------
        features : np.ndarray [shape=(n_frames, n_features)]
        posteriors : np.ndarray [shape=(n_frames, 4)]
            Columns S1, systole, S2, diastole; rows sum to one.
        """
        from ..io import validate_audio

        y = validate_audio(y, sr, source=source)
        model = self.load().model_
        assert model is not None
        feats, _ = neural_features(y, float(sr), prepared=prepared)
        if feats.shape[1] != model.n_features:
            raise ModelError(f"{model.path} expects {model.n_features} features per frame, "
                             f"the feature extractor gives {feats.shape[1]}")
        return feats, model.run(feats)

    def segment(self, y: Any, sr: Any, *, source: str | None = None,
                prepared: Any = None) -> Segmentation:
        """Segment a recording into S1, systole, S2 and diastole.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            Audio samples (any rate >= 500 Hz, at least 1 s).
        sr : float
            Sample rate in Hz.

        Returns
        -------
        Segmentation
            ``method="neural"``, states at 50 Hz, ``posteriors`` the network output.

        Raises
        ------
        heartsound.errors.AudioError
            Bad audio (empty, too short, silent, NaN, unsupported rate).
        """
        from ..io import validate_audio

        y = validate_audio(y, sr, source=source)
        feats, post = self.posteriors(y, sr, source=source, prepared=prepared)
        model = self.model_
        assert model is not None
        states, hr, sys_s = _decode(post, model.priors, model.sound_durations)
        states = shift_states(states, self.shift_frames)
        return Segmentation(states=states, frame_rate=FRAME_RATE, method=self.method,
                            heart_rate_bpm=hr, systolic_interval_s=sys_s, posteriors=post,
                            info={"model_sha256": model.sha256, "shift_frames": self.shift_frames})


def shift_states(states: np.ndarray, frames: int = SHIFT_FRAMES) -> np.ndarray:
    """Move a state sequence ``frames`` frames earlier (the last state is extended).

    Why one frame (20 ms): a state decoded at frame ``k`` describes the instant ``k / 50``
    s, but :meth:`Segmentation.rows` reads it as the interval ``[k/50, (k+1)/50)``, so
    every boundary comes out half a frame (10 ms) late; and CirCor's segment centres, the
    training targets, lie about 22 ms after the energy peak of the sound (median over
    CirCor S1 and S2, 25-400 Hz Hilbert envelope), while other annotations (PASCAL) mark
    the peak. Moving the states one frame earlier costs 0.3 points of F1 against CirCor's
    own convention and puts event centres on the sounds' energy peaks.

    Returns
    -------
    np.ndarray [shape=states.shape, dtype=int8]
        Same order of states, so still a valid sequence.
    """
    s = np.asarray(states).astype(np.int8)
    if frames <= 0 or s.size <= frames:
        return s.copy()
    return np.concatenate([s[frames:], np.repeat(s[-1:], frames)])


_DEFAULT: dict[tuple[str | None, int], NeuralSegmenter] = {}


def segment(y: Any, sr: float, *, model: NeuralSegmenter | None = None,
            model_path: str | Path | None = None, n_threads: int = 1,
            source: str | None = None, prepared: Any = None) -> Segmentation:
    """Segment a recording with the neural method (the registry's entry point).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples.
    sr : float
        Sample rate in Hz.
    model : NeuralSegmenter, optional
        A segmenter to use; default one built from ``model_path`` (the shipped model when
        None) and kept for later calls.
    model_path : str or Path, optional
        ONNX file of another network (e.g. a cross-validation fold model).
    n_threads : int
        ONNX Runtime threads.
    prepared : heartsound.preprocess.Prepared, optional
        Signals already derived from this recording (see :func:`neural_features`).

    Returns
    -------
    Segmentation
        ``method="neural"``.
    """
    if model is None:
        key = (str(model_path) if model_path is not None else None, int(n_threads))
        model = _DEFAULT.get(key)
        if model is None:
            model = _DEFAULT[key] = NeuralSegmenter(model_path=model_path,
                                                    n_threads=n_threads).load()
    return model.segment(y, sr, source=source, prepared=prepared)


def _cross_lag(a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> int:
    """Lag ``l`` in ``[lo, hi]`` maximising ``sum_t a[t] b[t + l]`` (means removed)."""
    a = a - a.mean()
    b = b - b.mean()
    n = a.size
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.conj(np.fft.rfft(a, nfft)) * np.fft.rfft(b, nfft), nfft)
    hi = max(lo, min(hi, n - 1))
    return lo + int(np.argmax(xc[lo:hi + 1]))


def rate_from_posteriors(post: np.ndarray, frame_rate: float = FRAME_RATE, *,
                         sound_durations: dict[str, tuple[float, float]] | None = None
                         ) -> list[tuple[float, float, float]]:
    """Heart-rate candidates and systolic interval from the network's posteriors.

    The cycle is read from the autocorrelation of ``P(S1 | o_t)``
    (:func:`heartsound.segmentation.heart_rate.heart_rate_candidates`), which peaks once
    per cycle, so the S1-S2 lag that misleads the envelope's autocorrelation is absent.
    The systolic interval is the lag of the largest cross-correlation of ``P(S1)`` with
    ``P(S2)`` between 0.1 s (or 20 % of the cycle) and 60 % of the cycle, plus the
    difference of the mean half-durations of S1 and S2 (centres to onsets).

    Returns
    -------
    list of (heart_rate_bpm, systolic_interval_s, acf_peak)
        Best first.
    """
    from .heart_rate import heart_rate_candidates
    from .hsmm import SOUND_DURATIONS_S

    s1, s2 = post[:, 0], post[:, 2]
    durs = {**SOUND_DURATIONS_S, **(sound_durations or {})}
    onset_shift = 0.5 * (durs["S1"][0] - durs["S2"][0])
    out = []
    for hr, _, peak in heart_rate_candidates(s1, frame_rate, n=2):
        cycle = 60.0 / hr
        lo = int(np.floor(max(0.1, 0.2 * cycle) * frame_rate))
        hi = int(np.ceil(0.6 * cycle * frame_rate))
        lag = _cross_lag(s1, s2, lo, hi) / frame_rate + onset_shift
        sys_s = float(np.clip(lag, 0.2 * cycle, 0.6 * cycle))
        out.append((float(hr), sys_s, float(peak)))
    return out


def _decode(post: np.ndarray, priors: np.ndarray | None = None,
            sound_durations: dict[str, tuple[float, float]] | None = None, *,
            max_candidates: int = 2, ambiguity: float = 0.85
            ) -> tuple[np.ndarray, float, float]:
    """HSMM decoding of the posteriors (Springer et al. 2016 decoder).

    The duration model comes from :func:`rate_from_posteriors`. When the second heart-rate
    candidate's autocorrelation peak is at least ``ambiguity`` times the first, both are
    decoded and the path with the higher HSMM score is kept. ``priors`` (state
    frequencies of the training frames) turn posteriors into scaled likelihoods;
    ``sound_durations`` are the S1/S2 duration mean and SD measured on the training
    annotations.
    """
    from .hsmm import decode_with_score, duration_model

    cands = rate_from_posteriors(post, sound_durations=sound_durations)
    top = cands[0][2]
    use = [cands[0]] + [c for c in cands[1:max_candidates]
                        if np.isfinite(top) and np.isfinite(c[2]) and c[2] >= ambiguity * top]
    best: tuple[float, np.ndarray, float, float] | None = None
    for hr, sys_s, _ in use:
        durs = sound_durations or {}
        dm = duration_model(hr, sys_s, frame_rate=FRAME_RATE, s1=durs.get("S1"),
                            s2=durs.get("S2"))
        states, score = decode_with_score(post, dm, kind="posteriors", priors=priors)
        if best is None or score > best[0]:
            best = (score, states, hr, sys_s)
    assert best is not None
    return best[1], best[2], best[3]
