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
energies to the Springer envelopes (:func:`heartsound.features.neural_features`,
re-exported here with :func:`~heartsound.features.band_energies`).

Inference uses ONNX Runtime only (no torch). The network ships as
``heartsound/models/segmenter_neural.onnx``; its input layout, frame rate and labels are
stored in the ONNX metadata, which :func:`load_model` reads (through the one model loader,
:func:`heartsound.bundle.load`, which also checks the shipped file's sha256).
Training lives in :mod:`heartsound.training.segmenter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import bundle
from ..errors import ModelError, ParameterError
from ..features import band_energies, lagged_products, neural_features
from ..frontend import Frontend, as_frontend
from ..vocab import FRAME_RATE, NEURAL_BANDS_HZ, STATES
from .heart_rate import decode_candidates, heart_rate_candidates
from . import presence
from .hsmm import SOUND_DURATIONS_S, decode_with_score, duration_model
from .result import Segmentation

__all__ = ["segment", "NeuralSegmenter", "SegmenterModel", "load_model", "make_segmenter",
           "neural_features", "band_energies", "shift_states", "rate_from_posteriors",
           "NEURAL_BANDS_HZ", "BANDS_HZ", "FRAME_RATE", "MODEL_FILE", "STATE_LABELS"]

#: Frames by which the decoded states are moved earlier (see :func:`shift_states`).
SHIFT_FRAMES = 1
#: Registry key of the shipped network (:data:`heartsound.bundle.REGISTRY`).
MODEL_NAME = "segmenter_neural"
#: Shipped model file inside ``heartsound.models``.
MODEL_FILE = bundle.REGISTRY[MODEL_NAME].file
#: Output columns of the network (the four states).
STATE_LABELS = STATES
#: Former name of :data:`heartsound.vocab.NEURAL_BANDS_HZ` (used by the trainer).
BANDS_HZ = NEURAL_BANDS_HZ
_RUN_WINDOW = 8192       # frames per network call on long recordings (2.7 min)


@dataclass(frozen=True)
class SegmenterModel:
    """The segmentation network of a :class:`heartsound.bundle.ModelBundle`, read for
    decoding.

    Attributes
    ----------
    bundle : heartsound.bundle.ModelBundle
        File, sha256, labels, frame rate and metadata (``n_features``, ``time_multiple``,
        ``state_priors``, ``sound_durations``, ``config``, training summary).
    """

    bundle: bundle.ModelBundle

    @property
    def path(self) -> str:
        return self.bundle.path

    @property
    def sha256(self) -> str:
        return self.bundle.sha256

    @property
    def metadata(self) -> dict[str, Any]:
        return self.bundle.metadata

    @property
    def labels(self) -> tuple[str, ...]:
        return self.bundle.labels

    @property
    def frame_rate(self) -> float:
        return float(self.bundle.frame_rate or FRAME_RATE)

    @property
    def n_features(self) -> int:
        """Width of the input ``features [batch, time, n_features]``."""
        return int(self.metadata["n_features"])

    @property
    def time_multiple(self) -> int:
        """The input length must be a multiple of this many frames (padded by :meth:`run`)."""
        return int(self.metadata.get("time_multiple", 1))

    @property
    def priors(self) -> np.ndarray | None:
        """State frequencies of the training frames, ``[4]``."""
        p = self.metadata.get("state_priors")
        return None if p is None else np.asarray(p, dtype=np.float64)

    @property
    def sound_durations(self) -> dict[str, tuple[float, float]] | None:
        """S1/S2 duration mean and SD (s) measured on the training annotations."""
        d = self.metadata.get("sound_durations")
        return None if d is None else {k: (float(v[0]), float(v[1])) for k, v in d.items()}

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
        (p,) = self.bundle.run({"features": x[None]})
        return np.asarray(p[0, :n], dtype=np.float64)


def load_model(path: str | Path | None = None, *, n_threads: int = 1) -> SegmenterModel:
    """Open a segmentation network (:func:`heartsound.bundle.load`, cached).

    Parameters
    ----------
    path : str or Path, optional
        An ONNX file made by :func:`heartsound.training.segmenter.export_onnx`; default
        the shipped ``segmenter_neural.onnx`` (sha256 checked).
    n_threads : int
        ONNX Runtime intra-op threads (1 by default).

    Raises
    ------
    ModelError
        The file is missing, corrupt, not an ONNX model, or lacks the expected metadata.
    """
    m = SegmenterModel(bundle.load(MODEL_NAME, path=path, threads=n_threads))
    try:
        m.n_features, m.frame_rate, m.time_multiple, m.priors, m.sound_durations
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{m.path}: not a heartsound segmentation model (metadata {exc})"
                         ) from None
    return m


class NeuralSegmenter:
    """Segment heart sounds with the network + HSMM (method ``"neural"``).

    ``"neural"`` is this library's name for the method of Renna, Oliveira and Coimbra,
    "Deep convolutional neural networks for heart sound segmentation", IEEE J. Biomed.
    Health Inform. 23(6):2435-2445, 2019 (network emissions), decoded by the HSMM of
    Springer, Tarassenko and Clifford, IEEE Trans. Biomed. Eng. 63(4):822-832, 2016;
    the module docstring lists the differences from the paper.

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
    The model is loaded on first use (or by :meth:`load`), once per file and thread
    count (:func:`heartsound.bundle.load`); instances are cheap to create.

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
        self.model_: SegmenterModel | None = None

    def load(self) -> NeuralSegmenter:
        """Load the ONNX model now (otherwise it is loaded by the first call)."""
        if self.model_ is None:
            self.model_ = load_model(self.model_path, n_threads=self.n_threads)
        return self

    def posteriors(self, y: Any, sr: Any, *, source: str | None = None,
                   frontend: Frontend | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Features and per-frame state probabilities of a recording.

        Parameters are those of :meth:`segment`.

        Returns
        -------
        features : np.ndarray [shape=(n_frames, n_features)]
        posteriors : np.ndarray [shape=(n_frames, 4)]
            Columns S1, systole, S2, diastole; rows sum to one.
        """
        fe = as_frontend(y, sr, frontend, source=source)
        model = self.load().model_
        assert model is not None
        feats, _ = neural_features(fe.y, fe.sr, frontend=fe)
        if feats.shape[1] != model.n_features:
            raise ModelError(f"{model.path} expects {model.n_features} features per frame, "
                             f"the feature extractor gives {feats.shape[1]}")
        return feats, model.run(feats)

    def segment(self, y: Any, sr: Any, *, source: str | None = None,
                frontend: Frontend | None = None
                ) -> Segmentation:
        """Segment a recording into S1, systole, S2 and diastole.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            Audio samples (any rate >= 500 Hz, at least 1 s); validated here unless
            ``frontend`` is given.
        sr : float
            Sample rate in Hz.
        source : str, optional
            Name of the recording in error messages.
        frontend : heartsound.frontend.Frontend, optional
            The recording's front end (trusted; its signals are reused).

        Returns
        -------
        Segmentation
            ``method="neural"``, states at 50 Hz, ``posteriors`` the network output.

        Raises
        ------
        heartsound.errors.AudioError
            Bad audio (empty, too short, silent, NaN, unsupported rate).
        """
        fe = as_frontend(y, sr, frontend, source=source)
        _, post = self.posteriors(fe.y, fe.sr, frontend=fe)
        model = self.model_
        assert model is not None
        states, hr, sys_s = _decode(post, model.priors, model.sound_durations)
        states = shift_states(states, self.shift_frames)
        seg = Segmentation(states=states, frame_rate=FRAME_RATE, method=self.method,
                           heart_rate_bpm=hr, systolic_interval_s=sys_s, posteriors=post,
                           info={"model_sha256": model.sha256, "shift_frames": self.shift_frames})
        return presence.apply(seg, fe)


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


def make_segmenter(*, model: NeuralSegmenter | None = None,
                   model_path: str | Path | None = None, n_threads: int = 1
                   ) -> NeuralSegmenter:
    """The registry's factory: ``model``, or a segmenter of ``model_path`` (the shipped
    network when None). Cheap: the network itself is loaded once per file and thread
    count by :func:`heartsound.bundle.load`."""
    if model is not None:
        return model
    return NeuralSegmenter(model_path=model_path, n_threads=n_threads)


def segment(y: Any, sr: float, *, model: NeuralSegmenter | None = None,
            model_path: str | Path | None = None, n_threads: int = 1,
            source: str | None = None, frontend: Frontend | None = None) -> Segmentation:
    """Segment a recording with the neural method.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples.
    sr : float
        Sample rate in Hz.
    model : NeuralSegmenter, optional
        A segmenter to use; default one of ``model_path``.
    model_path : str or Path, optional
        ONNX file of another network (e.g. a cross-validation fold model); default the
        shipped one.
    n_threads : int
        ONNX Runtime threads.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end (see :func:`neural_features`).

    Returns
    -------
    Segmentation
        ``method="neural"``.
    """
    return make_segmenter(model=model, model_path=model_path, n_threads=n_threads).segment(
        y, sr, source=source, frontend=frontend)


def _cross_lag(a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> int:
    """Lag ``l`` in ``[lo, hi]`` maximising ``sum_t a[t] b[t + l]`` (means removed)."""
    xc = lagged_products(a - a.mean(), b - b.mean())
    hi = max(lo, min(hi, a.size - 1))
    return lo + int(np.argmax(xc[lo:hi + 1]))


def rate_from_posteriors(post: np.ndarray, frame_rate: float = FRAME_RATE, *,
                         sound_durations: dict[str, tuple[float, float]] | None = None,
                         n: int = 2) -> list[tuple[float, float, float]]:
    """Heart-rate candidates (at most ``n``) and systolic interval from the network's
    posteriors.

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
    s1, s2 = post[:, 0], post[:, 2]
    durs = {**SOUND_DURATIONS_S, **(sound_durations or {})}
    onset_shift = 0.5 * (durs["S1"][0] - durs["S2"][0])
    out = []
    for hr, _, peak in heart_rate_candidates(s1, frame_rate, n=n):
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
    decoded and the path with the higher HSMM score is kept
    (:func:`~heartsound.segmentation.heart_rate.decode_candidates`). ``priors`` (state
    frequencies of the training frames) turn posteriors into scaled likelihoods;
    ``sound_durations`` are the S1/S2 duration mean and SD measured on the training
    annotations.

    Returns
    -------
    states : np.ndarray [shape=(n_frames,)]
    heart_rate_bpm, systolic_interval_s : float
    """
    durs = sound_durations or {}

    def decode(hr: float, sys_s: float) -> tuple[np.ndarray, float]:
        dm = duration_model(hr, sys_s, frame_rate=FRAME_RATE, s1=durs.get("S1"),
                            s2=durs.get("S2"))
        return decode_with_score(post, dm, kind="posteriors", priors=priors)

    cands = rate_from_posteriors(post, sound_durations=sound_durations)
    states, hr, sys_s, _ = decode_candidates(cands[:max_candidates], decode,
                                             ambiguity=ambiguity)
    return states, hr, sys_s
