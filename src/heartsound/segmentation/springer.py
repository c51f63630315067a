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

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import bundle
from .._version import __version__
from ..errors import ModelError, ParameterError
from ..features import EXTENDED_FEATURE_NAMES, FEATURE_NAMES, springer_features
from ..frontend import Frontend, as_frontend
from ..preprocess import preprocess
from ..vocab import DIASTOLE, FRAME_RATE, S1, S2, STATES, SYSTOLE
from . import hsmm
from .heart_rate import MAX_BPM, MIN_BPM, decode_candidates, heart_rate_candidates
from .result import Segmentation, states_to_rows

__all__ = ["METHOD", "MODEL_FILE", "FORMAT", "FORMAT_VERSION", "SpringerSegmenter",
           "segment", "load_default", "make_segmenter"]

METHOD = "springer2016"
#: File name of the shipped model inside ``heartsound.models`` (see
#: :data:`heartsound.bundle.REGISTRY`).
MODEL_FILE = bundle.REGISTRY[METHOD].file
FORMAT = "heartsound.springer2016"
FORMAT_VERSION = 1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _run_lengths(states: np.ndarray) -> list[tuple[int, int]]:
    """``(state, length)`` of every run not touching the ends or a state-0 run."""
    rows = states_to_rows(states, 1.0)
    return [(st, int(b - a)) for (_, _, prev), (a, b, st), (_, _, nxt)
            in zip(rows, rows[1:], rows[2:]) if 0 not in (prev, st, nxt)]


class SpringerSegmenter:
    """Logistic-regression HSMM segmenter (Springer et al. 2016), estimator style.

    Method ``"springer2016"``: D. B. Springer, L. Tarassenko, G. D. Clifford,
    "Logistic Regression-HSMM-Based Heart Sound Segmentation", IEEE Trans. Biomed. Eng.
    63(4):822-832, 2016, with the departures listed in the module docstring.

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

    def __init__(self, *, extended_features: bool = True,
                 augment_band_hz: tuple[float, float] | None = (60.0, 250.0), C: float = 1.0, max_train_frames: int = 2_000_000,
                 fit_sound_durations: bool = True, n_hr_candidates: int = 3,
                 systole_candidates: bool = True, candidate_score: str = "emission",
                 min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM, seed: int = 0) -> None:
        self.extended_features = extended_features
        self.augment_band_hz = augment_band_hz
        self.C = C
        self.max_train_frames = max_train_frames
        self.fit_sound_durations = fit_sound_durations
        self.n_hr_candidates = n_hr_candidates
        self.systole_candidates = systole_candidates
        self.candidate_score = candidate_score
        self.min_bpm = min_bpm
        self.max_bpm = max_bpm
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def features(self, y: np.ndarray, sr: float, *, frontend: Frontend | None = None,
                 prepared: Frontend | None = None) -> np.ndarray:
        """The feature matrix this segmenter decodes, ``np.ndarray [shape=(n_frames, n_features)]``.

        ``frontend`` (the recording's :class:`heartsound.frontend.Frontend`) reuses the
        signals already computed for it; ``prepared`` is its deprecated alias."""
        return springer_features(y, sr, extended=self.extended_features,
                                 frontend=frontend if frontend is not None else prepared)[0]

    def training_features(self, y: np.ndarray, sr: float) -> list[np.ndarray]:
        """Feature matrices of one training recording: as recorded, plus (with
        ``augment_band_hz``) a copy band-passed to that band before the features.

        Both have the same frames, so they share the recording's reference states.
        """
        out = [self.features(y, sr)]
        if self.augment_band_hz:
            lo, hi = (float(v) for v in self.augment_band_hz)
            x, x_sr = preprocess(y, sr, band_hz=(lo, hi))
            out.append(springer_features(x, x_sr, preprocessed=True,
                                         extended=self.extended_features)[0])
        return out

    def fit(self, features_list: Sequence[np.ndarray], states_list: Sequence[np.ndarray]
            ) -> SpringerSegmenter:
        """Learn the emission model from annotated recordings.

        Parameters
        ----------
        features_list : sequence of np.ndarray [shape=(n_frames_i, n_features)]
            ``springer_features(y, sr, extended=self.extended_features)`` of each
            recording.
        states_list : sequence of np.ndarray [shape=(n_frames_i,)]
            Reference state per frame (0 = unannotated, excluded; 1-4 as in
            :data:`heartsound.segmentation.result.STATE_NAMES`), e.g. from
            :func:`heartsound.segmentation.result.rows_to_states` at 50 Hz.

        Returns
        -------
        self
        """
        from sklearn.linear_model import LogisticRegression

        if len(features_list) != len(states_list) or not len(features_list):
            raise ParameterError(f"need as many state sequences as feature matrices (>0), got "
                                 f"{len(features_list)} and {len(states_list)}")
        xs, ys, runs = [], [], []
        for i, (x, s) in enumerate(zip(features_list, states_list)):
            x = np.asarray(x, dtype=np.float64)
            s = np.asarray(s).astype(int).ravel()
            if x.ndim != 2 or x.shape[0] != s.size:
                raise ParameterError(f"recording {i}: features {x.shape} and states {s.shape} "
                                     "do not have the same number of frames")
            keep = s > 0
            xs.append(x[keep])
            ys.append(s[keep])
            runs.extend(_run_lengths(s))
        x_all = np.concatenate(xs)
        y_all = np.concatenate(ys)
        if x_all.shape[1] != len(self._names()):
            raise ParameterError(f"features have {x_all.shape[1]} columns; "
                                 f"extended_features={self.extended_features} needs "
                                 f"{len(self._names())} ({', '.join(self._names())})")
        if set(np.unique(y_all)) != {S1, SYSTOLE, S2, DIASTOLE}:
            raise ParameterError("training states must contain all of 1, 2, 3 and 4")
        if x_all.shape[0] > self.max_train_frames:
            rng = np.random.default_rng(self.seed)
            sel = rng.choice(x_all.shape[0], self.max_train_frames, replace=False)
            x_all, y_all = x_all[sel], y_all[sel]
        coef, icpt = [], []
        for j in (S1, SYSTOLE, S2, DIASTOLE):
            lr = LogisticRegression(C=self.C, max_iter=500)
            lr.fit(x_all, (y_all == j).astype(int))
            coef.append(lr.coef_[0])
            icpt.append(lr.intercept_[0])
        self.coef_ = np.array(coef)
        self.intercept_ = np.array(icpt)
        self.priors_ = np.array([np.mean(y_all == j) for j in (S1, SYSTOLE, S2, DIASTOLE)])
        self.mean_ = x_all.mean(axis=0)
        self.cov_ = np.atleast_2d(np.cov(x_all, rowvar=False))
        durs = dict(hsmm.SOUND_DURATIONS_S)
        if self.fit_sound_durations:
            for name, code in (("S1", S1), ("S2", S2)):
                d = np.array([n for st, n in runs if st == code], dtype=float) / FRAME_RATE
                if d.size >= 20:
                    durs[name] = (float(np.mean(d)), float(max(np.std(d), 1.0 / FRAME_RATE)))
        self.sound_durations_ = durs
        self.n_train_frames_ = int(x_all.shape[0])
        self.feature_names_ = self._names()
        return self

    def _names(self) -> tuple[str, ...]:
        return EXTENDED_FEATURE_NAMES if self.extended_features else FEATURE_NAMES

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ModelError("SpringerSegmenter is not fitted: call fit() or load() first")

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

    def segment(self, y: Any, sr: float, *, frontend: Frontend | None = None,
                prepared: Frontend | None = None) -> Segmentation:
        """Segment one recording.

        Parameters
        ----------
        y : np.ndarray [shape=(n,) or (n, channels)]
            Samples (validated here unless ``frontend`` is given).
        sr : float
            Sample rate in Hz.
        frontend : heartsound.frontend.Frontend, optional
            The recording's front end (trusted, not validated again; its signals are
            reused). ``prepared`` is its deprecated alias.

        Returns
        -------
        Segmentation
            ``method="springer2016"``, 50 frames per second; ``posteriors`` holds the
            logistic-regression outputs.
        """
        self._check_fitted()
        fe = as_frontend(y, sr, frontend, prepared=prepared)
        x = self.features(fe.y, fe.sr, frontend=fe)
        fr = FRAME_RATE
        states, hr, si, info = self.decode(x, fr)
        return Segmentation(states=states, frame_rate=fr, method=METHOD, heart_rate_bpm=hr,
                            systolic_interval_s=si, posteriors=self.predict_proba(x), info=info)

    # ------------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        return {"extended_features": self.extended_features,
                "augment_band_hz": (list(self.augment_band_hz) if self.augment_band_hz
                                    else None), "C": self.C,
                "max_train_frames": self.max_train_frames,
                "fit_sound_durations": self.fit_sound_durations,
                "n_hr_candidates": self.n_hr_candidates,
                "systole_candidates": self.systole_candidates,
                "candidate_score": self.candidate_score, "min_bpm": self.min_bpm,
                "max_bpm": self.max_bpm, "seed": self.seed}

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-serialisable data (coefficients, not a pickle)."""
        self._check_fitted()
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "heartsound_version": __version__, "method": METHOD,
            "params": self.get_params(),
            "frame_rate": FRAME_RATE, "feature_names": list(self.feature_names_),
            "states": list(STATES),
            "coef": self.coef_.tolist(), "intercept": self.intercept_.tolist(),
            "priors": self.priors_.tolist(), "mean": self.mean_.tolist(),
            "cov": self.cov_.tolist(),
            "sound_durations_s": {k: list(v) for k, v in self.sound_durations_.items()},
            "n_train_frames": self.n_train_frames_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "<dict>") -> SpringerSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        Raises
        ------
        ModelError
            Wrong format, newer format version, or missing/ill-shaped fields. A file
            written by another heartsound version only warns.
        """
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ModelError(f"{source}: not a {FORMAT} model file")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelError(f"{source}: format version {d.get('format_version')} is newer "
                             f"than this heartsound supports ({FORMAT_VERSION}); upgrade heartsound")
        if d.get("heartsound_version") != __version__:
            warnings.warn(f"{source}: written by heartsound {d.get('heartsound_version')}, "
                          f"loaded by {__version__}", stacklevel=2)
        try:
            params = dict(d.get("params", {}))
            if params.get("augment_band_hz") is not None:
                params["augment_band_hz"] = tuple(params["augment_band_hz"])
            m = cls(**params)
            m.coef_ = np.asarray(d["coef"], dtype=np.float64)
            m.intercept_ = np.asarray(d["intercept"], dtype=np.float64)
            m.priors_ = np.asarray(d["priors"], dtype=np.float64)
            m.mean_ = np.asarray(d["mean"], dtype=np.float64)
            m.cov_ = np.asarray(d["cov"], dtype=np.float64)
            m.sound_durations_ = {k: tuple(float(x) for x in v)
                                  for k, v in d["sound_durations_s"].items()}
            m.n_train_frames_ = int(d.get("n_train_frames", 0))
            m.feature_names_ = tuple(d["feature_names"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: malformed model ({type(exc).__name__}: {exc})") from None
        nf = len(m.feature_names_)
        if (m.coef_.shape != (4, nf) or m.intercept_.shape != (4,) or m.priors_.shape != (4,)
                or m.mean_.shape != (nf,) or m.cov_.shape != (nf, nf)
                or set(m.sound_durations_) != {"S1", "S2"}):
            raise ModelError(f"{source}: model arrays have inconsistent shapes")
        if tuple(m.feature_names_) != m._names():
            raise ModelError(f"{source}: features {m.feature_names_} do not match this "
                             f"heartsound's {m._names()}")
        return m

    def save(self, path: str | Path) -> None:
        """Write the fitted model as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SpringerSegmenter:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ModelError
            Missing, unreadable or malformed file.
        """
        b = bundle.load(METHOD, path=path)
        return cls.from_dict(b.metadata, source=b.path)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"SpringerSegmenter({params})"


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
            frontend: Frontend | None = None, prepared: Frontend | None = None
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
        The recording's front end (its signals are reused). ``prepared`` is its
        deprecated alias.

    Returns
    -------
    Segmentation
    """
    return make_segmenter(model=model).segment(y, sr, frontend=frontend, prepared=prepared)
