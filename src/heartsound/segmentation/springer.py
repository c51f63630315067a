"""Springer's logistic-regression HSMM heart-sound segmenter (method ``"springer2016"``).

Pipeline of one recording (Springer, Tarassenko & Clifford 2016):

1. :func:`heartsound.features.springer_features`: resample to 1 kHz, band-pass 25-400 Hz,
   remove spikes, homomorphic / Hilbert / PSD envelopes at 50 Hz, z-scored;
2. :func:`heartsound.segmentation.heart_rate.heart_rate_candidates`: heart rate and
   systolic interval from the envelope's autocorrelation;
3. one logistic regression per state (that state against the other three) gives
   ``P(j | o_t)``; a multivariate normal of all training features gives ``P(o_t)``, and
   ``b_j(o_t) = P(j | o_t) P(o_t) / P(j)`` (Sec. II-F);
4. :func:`heartsound.segmentation.hsmm.decode_with_score`: extended duration-dependent
   Viterbi with the duration model of the heart-rate estimate.

Departures from the paper (both measured in ``docs/results/segmentation.md``):

* ``extended_features=True`` (default) adds four sub-band log-envelopes
  (:func:`heartsound.features.band_envelopes`) to the three envelopes, in place of the
  paper's optional wavelet envelope; they let the regressions tell S1 from S2.
* ``augment_band_hz=(60, 250)`` (default): training also sees a band-limited copy of
  every recording (as a phone microphone would record it, e.g. PASCAL set A), with the
  same states; see :meth:`SpringerSegmenter.training_features`.
* the autocorrelation may leave the true heart rate as its second
or third peak (noise, children's fast rates), so every candidate heart rate of step 2 is
decoded and the path with the highest HSMM score is kept (``n_hr_candidates``; 1 gives
the paper's behaviour).

The fitted model is stored as a small versioned JSON file of coefficients
(:meth:`SpringerSegmenter.save`), never a pickle. The shipped model is
``heartsound/models/springer2016.json`` (see its model card ``springer2016.md``).

References
----------
D. B. Springer, L. Tarassenko, G. D. Clifford. "Logistic Regression-HSMM-Based Heart Sound
Segmentation." IEEE Trans. Biomed. Eng. 63(4):822-832, 2016. doi:10.1109/TBME.2015.2475278
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import bundle
from ..errors import ParameterError
from ..frontend import Frontend, as_frontend
from ..vocab import FRAME_RATE
from . import hsmm, presence
from .heart_rate import decode_candidates, heart_rate_candidates
from .result import Segmentation
from .springer_model import FORMAT, FORMAT_VERSION, METHOD, SpringerModel

__all__ = ["METHOD", "MODEL_FILE", "FORMAT", "FORMAT_VERSION", "SpringerSegmenter",
           "segment", "load_default", "make_segmenter"]

#: File name of the shipped model inside ``heartsound.models`` (see
#: :data:`heartsound.bundle.REGISTRY`).
MODEL_FILE = bundle.REGISTRY[METHOD].file


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class SpringerSegmenter(SpringerModel):
    """Logistic-regression HSMM segmenter (Springer et al. 2016), estimator style.

    Method ``"springer2016"``: D. B. Springer, L. Tarassenko, G. D. Clifford,
    "Logistic Regression-HSMM-Based Heart Sound Segmentation", IEEE Trans. Biomed. Eng.
    63(4):822-832, 2016, with the departures listed in the module docstring. Fitting
    and the JSON file are inherited from
    :class:`~heartsound.segmentation.springer_model.SpringerModel`.

    Parameters
    ----------
    extended_features : bool
        Use :data:`heartsound.features.EXTENDED_FEATURE_NAMES` (7 columns) rather than the
        paper's 3 envelopes.
    augment_band_hz : (float, float) or None
        Pass band (Hz) of the band-limited training copy produced by
        :meth:`training_features`; None trains on the recordings as they are.
    C : float
        Inverse L2 regularisation of the logistic regressions (scikit-learn's ``C``).
    max_train_frames : int
        Largest number of training frames (a seeded random subset is used beyond it).
    fit_sound_durations : bool
        Estimate the S1 and S2 duration mean/SD from the training annotations instead of
        using the paper's 122 +- 22 ms and 94 +- 22 ms.
    n_hr_candidates : int
        Heart-rate candidates decoded per recording (the best HSMM path wins); 1 is the
        paper's single autocorrelation estimate.
    systole_candidates : bool
        For each heart rate also decode the mirror-image systolic interval
        (``cycle - interval``) and the typical interval at that rate
        (:func:`~heartsound.segmentation.heart_rate.typical_systolic_interval`), keeping the
        best path.
    candidate_score : {"emission", "path"}
        How the candidates' paths are compared: ``"path"`` is the full HSMM log-score
        (duration terms included), which favours slower rates because fewer segments pay
        fewer duration terms; ``"emission"`` sums only the emission log-likelihoods
        ``log b_j(o_t)`` along each path, so a rate wins by explaining the sounds.
    min_bpm, max_bpm : float
        Heart-rate search range.
    seed : int
        Seed of the training subset.

    Attributes
    ----------
    coef_ : np.ndarray [shape=(4, n_features)]
        One logistic regression per state (S1, systole, S2, diastole) against the rest.
    intercept_ : np.ndarray [shape=(4,)]
    priors_ : np.ndarray [shape=(4,)]
        State frequencies of the training frames, ``P(j)``.
    mean_, cov_ : np.ndarray [shape=(n_features,)], [shape=(n_features, n_features)]
        Multivariate normal of all training features, ``P(o)``.
    sound_durations_ : dict
        ``{"S1": (mean_s, sd_s), "S2": (mean_s, sd_s)}``.
    n_train_frames_ : int
    feature_names_ : tuple of str
    """

    # ------------------------------------------------------------------ emissions
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``P(state j | o_t)`` of each logistic regression.

        Parameters
        ----------
        features : np.ndarray [shape=(n_frames, n_features)]

        Returns
        -------
        np.ndarray [shape=(n_frames, 4)]
            Columns S1, systole, S2, diastole (one-vs-rest, rows need not sum to one).
        """
        self._check_fitted()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef_.shape[1]:
            raise ParameterError(f"features must have shape (n_frames, {self.coef_.shape[1]}), "
                                 f"got {x.shape}")
        return _sigmoid(x @ self.coef_.T + self.intercept_)

    def log_evidence(self, features: np.ndarray) -> np.ndarray:
        """``log P(o_t)`` under the multivariate normal of the training features,
        ``np.ndarray [shape=(n_frames,)]``."""
        from scipy.stats import multivariate_normal

        self._check_fitted()
        return multivariate_normal(self.mean_, self.cov_, allow_singular=True).logpdf(
            np.asarray(features, dtype=np.float64)).reshape(-1)

    def emission_loglik(self, features: np.ndarray) -> np.ndarray:
        """``log b_j(o_t) = log P(j | o_t) + log P(o_t) - log P(j)``, shape ``(n_frames, 4)``."""
        return hsmm.posteriors_to_loglik(self.predict_proba(features), self.priors_,
                                         self.log_evidence(features))

    # ------------------------------------------------------------------ decoding
    def decode(self, features: np.ndarray, frame_rate: float = FRAME_RATE
               ) -> tuple[np.ndarray, float, float, dict[str, Any]]:
        """Decode the states of one recording's features.

        Returns
        -------
        states : np.ndarray [shape=(n_frames,), dtype=int8]
            1..4 in cyclic order.
        heart_rate_bpm, systolic_interval_s : float
            The candidate whose duration model gave the best path.
        info : dict
            ``candidates``: every ``(heart_rate_bpm, systolic_interval_s, score)`` tried.
        """
        self._check_fitted()
        if self.candidate_score not in ("emission", "path"):
            raise ParameterError(f"candidate_score must be 'emission' or 'path', "
                                 f"got {self.candidate_score!r}")
        x = np.asarray(features, dtype=np.float64)
        loglik = self.emission_loglik(x)
        cands = heart_rate_candidates(x[:, 0], frame_rate, min_bpm=self.min_bpm,
                                      max_bpm=self.max_bpm, n=max(1, int(self.n_hr_candidates)))

        def decode(hr: float, si: float) -> tuple[np.ndarray, float]:
            dm = hsmm.duration_model(hr, si, frame_rate=frame_rate,
                                     s1=tuple(self.sound_durations_["S1"]),
                                     s2=tuple(self.sound_durations_["S2"]))
            states, score = hsmm.decode_with_score(loglik, dm)
            if self.candidate_score == "emission":
                score = float(loglik[np.arange(states.size), states - 1].sum())
            return states, score

        states, hr, si, tried = decode_candidates(cands, decode,
                                                  typical_systole=self.systole_candidates)
        return states, hr, si, {"candidates": [(round(h, 2), round(s, 4), round(sc, 2))
                                               for h, s, sc in tried]}

    def segment(self, y: Any, sr: float, *, frontend: Frontend | None = None) -> Segmentation:
        """Segment one recording.

        Parameters
        ----------
        y : np.ndarray [shape=(n,) or (n, channels)]
            Samples (validated here unless ``frontend`` is given).
        sr : float
            Sample rate in Hz.
        frontend : heartsound.frontend.Frontend, optional
            The recording's front end (trusted, not validated again; its signals are
            reused).

        Returns
        -------
        Segmentation
            ``method="springer2016"``, 50 frames per second; ``posteriors`` holds the
            logistic-regression outputs.
        """
        self._check_fitted()
        fe = as_frontend(y, sr, frontend)
        x = self.features(fe.y, fe.sr, frontend=fe)
        fr = FRAME_RATE
        states, hr, si, info = self.decode(x, fr)
        seg = Segmentation(states=states, frame_rate=fr, method=METHOD, heart_rate_bpm=hr,
                           systolic_interval_s=si, posteriors=self.predict_proba(x), info=info)
        return presence.apply(seg, fe)


def load_default() -> SpringerSegmenter:
    """The shipped model ``heartsound/models/springer2016.json``.

    The file is read and its sha256 checked once (:func:`heartsound.bundle.load`); each
    call returns a new estimator built from it.

    Raises
    ------
    ModelError
        The file is missing from this installation, corrupt or malformed.
    """
    b = bundle.load(METHOD)
    return SpringerSegmenter.from_dict(b.metadata, source=b.path)


def make_segmenter(*, model: SpringerSegmenter | str | Path | None = None
                   ) -> SpringerSegmenter:
    """The registry's factory: ``model`` (a fitted segmenter or a JSON model file) or
    the shipped model."""
    if model is None:
        return load_default()
    if isinstance(model, SpringerSegmenter):
        return model
    return SpringerSegmenter.load(model)


def segment(y: Any, sr: float, *, model: SpringerSegmenter | str | Path | None = None,
            frontend: Frontend | None = None
            ) -> Segmentation:
    """Segment a recording with Springer's LR-HSMM.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples.
    sr : float
        Sample rate in Hz.
    model : SpringerSegmenter or path, optional
        A fitted segmenter or a JSON model file; the shipped model by default.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end (its signals are reused).

    Returns
    -------
    Segmentation
    """
    return make_segmenter(model=model).segment(y, sr, frontend=frontend)
