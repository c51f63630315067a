"""Per-frame emissions of a stream: the offline segmenters' models on streamed features.

``"neural"``: the segmentation network (:class:`heartsound.segmentation.neural.
SegmenterModel`) runs, once per block, on the last :data:`NET_CONTEXT` frames of
features, and the posteriors of the frames that have ``lookahead`` frames of features
after them are kept. The U-Net's receptive field is +-124 frames, but its outputs depend
mostly on the nearest few tenths of a second; offline every frame sees up to 2.5 s of
future, so streamed posteriors differ somewhat (most near changes of the sounds), and the
network's output at the very end of an offline recording is the same "no future" case.
``"springer2016"``: the logistic regressions are per frame, so no lookahead is needed.

Both also give the signal the heart rate is read from, as in the offline methods:
``P(S1 | o_t)`` (neural, :func:`~heartsound.segmentation.neural.rate_from_posteriors`)
or the homomorphic envelope (springer2016,
:func:`~heartsound.segmentation.heart_rate.heart_rate_candidates`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..segmentation import neural, springer
from ..segmentation.heart_rate import decode_candidates, heart_rate_candidates
from ..segmentation.hsmm import (
    DurationModel,
    decode_with_score,
    duration_model,
    posteriors_to_loglik,
)
from ..vocab import FRAME_RATE

__all__ = ["NET_CONTEXT", "Emitter"]

#: Frames of features the network sees per call (past frames plus the lookahead).
NET_CONTEXT = 128
#: Heart-rate candidates springer2016 decodes at each re-estimate (as offline).
N_CANDIDATES = 3


class Emitter:
    """Features in, emission log-likelihoods (and the heart-rate signal) out.

    Parameters
    ----------
    method : {"neural", "springer2016"}
    model : optional
        A :class:`~heartsound.segmentation.neural.NeuralSegmenter` or a fitted
        :class:`~heartsound.segmentation.springer.SpringerSegmenter` (or a path to its
        model file); default the shipped model.
    lookahead_frames : int
        Frames of features after a frame before the network's output for it is kept
        (neural only).
    n_threads : int
        ONNX Runtime threads.
    """

    def __init__(self, method: str, model: Any = None, *, lookahead_frames: int = 10,
                 n_threads: int = 1) -> None:
        self.method = method
        if method == "neural":
            seg = model if isinstance(model, neural.NeuralSegmenter) else \
                neural.NeuralSegmenter(model_path=model, n_threads=n_threads)
            self.net = seg.load().model_
            self.shift = seg.shift_frames
            self.ahead = int(lookahead_frames)
            self.priors = self.net.priors
            self.durations = self.net.sound_durations or {}
            self.kind = "neural"
        elif method == springer.METHOD:
            self.lr = model if isinstance(model, springer.SpringerSegmenter) else \
                springer.SpringerSegmenter.load(model) if isinstance(model, (str, Path)) \
                else springer.load_default()
            self.shift, self.ahead = 0, 0
            self.durations = {k: tuple(v) for k, v in self.lr.sound_durations_.items()}
            self.kind = "springer_extended" if self.lr.extended_features else "springer"
        else:
            raise ParameterError(f"unknown streaming method {method!r}; valid: neural, "
                                 f"{springer.METHOD}")
        self._feats = np.zeros((0, 0), dtype=np.float32)
        self._seen = 0                   # feature frames received
        self.n_done = 0                  # frames whose emissions were given

    def push(self, feats: np.ndarray, *, final: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """Append standardised feature frames ``[m, n_features]``.

        Returns
        -------
        loglik : np.ndarray [shape=(k, 4)]
            Emissions of the frames that became ready (in order, none skipped).
        rate_signal : np.ndarray [shape=(k, 2) or (k, 1)]
            What the heart rate is read from: ``P(S1)``, ``P(S2)`` (neural) or the
            standardised homomorphic envelope (springer2016).
        """
        if self.method != "neural":
            x = np.asarray(feats, dtype=np.float64)
            self.n_done += x.shape[0]
            if not x.shape[0]:
                return np.zeros((0, 4)), np.zeros((0, 1))
            return self.lr.emission_loglik(x), x[:, :1]
        f = np.asarray(feats, dtype=np.float32)
        if f.shape[0]:
            self._feats = f if self._feats.size == 0 else np.concatenate([self._feats, f])
        # the last NET_CONTEXT frames, or more when more are pending (the warm-up)
        self._feats = self._feats[-max(NET_CONTEXT, self._seen + f.shape[0] - self.n_done):]
        self._seen += f.shape[0]
        ready = self._seen if final else self._seen - self.ahead
        if ready <= self.n_done:
            return np.zeros((0, 4)), np.zeros((0, 2))
        post = self.net.run(self._feats)
        first = self._seen - self._feats.shape[0]      # absolute frame of the window's row 0
        post = post[self.n_done - first:ready - first]
        self.n_done = ready
        return posteriors_to_loglik(post, self.priors), post[:, [0, 2]]

    def rate_candidates(self, signal: np.ndarray) -> list[tuple[float, float, float]]:
        """``(heart_rate_bpm, systolic_interval_s, acf_peak)`` candidates, best first, from
        the recent heart-rate signal ``[n, 2]`` or ``[n, 1]`` (as the offline method reads
        them). neural: the first candidate only (the one :meth:`choose` keeps; the second
        would cost another cross-correlation)."""
        if self.method == "neural":
            post = np.zeros((signal.shape[0], 4))
            post[:, 0], post[:, 2] = signal[:, 0], signal[:, 1]
            return neural.rate_from_posteriors(post, FRAME_RATE, n=1,
                                               sound_durations=self.durations or None)
        return heart_rate_candidates(signal[:, 0], FRAME_RATE, n=N_CANDIDATES)

    def duration_model(self, hr: float, sys_s: float) -> DurationModel:
        """The HSMM duration model at ``hr`` bpm and systolic interval ``sys_s`` s."""
        d = self.durations
        return duration_model(hr, sys_s, frame_rate=FRAME_RATE, s1=d.get("S1"), s2=d.get("S2"))

    def choose(self, candidates: list[tuple[float, float, float]], loglik: np.ndarray
               ) -> tuple[float, float]:
        """The heart rate and systolic interval to decode with. neural: the first
        candidate. springer2016: its offline choice, on the recent emissions
        ``loglik [n, 4]``: decode each candidate (with the typical systolic interval as
        well) and keep the path whose emissions score highest
        (:func:`~heartsound.segmentation.heart_rate.decode_candidates`)."""
        if self.method == "neural" or len(candidates) == 1:
            return candidates[0][0], candidates[0][1]

        def decode(hr: float, si: float) -> tuple[np.ndarray, float]:
            states, _ = decode_with_score(loglik, self.duration_model(hr, si))
            return states, float(loglik[np.arange(states.size), states - 1].sum())

        _, hr, si, _ = decode_candidates(candidates, decode, typical_systole=True)
        return hr, si
