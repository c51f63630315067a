"""The fitted parameters of the springer2016 segmenter: learning them and their JSON file.

:class:`SpringerModel` is the estimator half of
:class:`heartsound.segmentation.springer.SpringerSegmenter`: hyper-parameters in
``__init__``, :meth:`~SpringerModel.fit` learning the ``*_`` attributes (one logistic
regression per state, the state priors, the feature distribution, the sound durations),
and the versioned JSON format (:meth:`~SpringerModel.to_dict`,
:meth:`~SpringerModel.from_dict`; never a pickle). The decoding half (emissions, heart
rate candidates, HSMM) is in :mod:`heartsound.segmentation.springer`.

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
from typing import Any, TypeVar

import numpy as np

from .. import bundle
from .._version import __version__
from ..errors import ModelError, ParameterError
from ..features import EXTENDED_FEATURE_NAMES, FEATURE_NAMES, springer_features
from ..frontend import Frontend
from ..preprocess import preprocess
from ..vocab import DIASTOLE, FRAME_RATE, S1, S2, STATES, SYSTOLE
from . import hsmm
from .heart_rate import MAX_BPM, MIN_BPM
from .result import states_to_rows

__all__ = ["SpringerModel", "METHOD", "FORMAT", "FORMAT_VERSION"]

#: Method name of the segmenter (its registry key and model name).
METHOD = "springer2016"
FORMAT = "heartsound.springer2016"
FORMAT_VERSION = 1

_M = TypeVar("_M", bound="SpringerModel")


def _run_lengths(states: np.ndarray) -> list[tuple[int, int]]:
    """``(state, length)`` of every run not touching the ends or a state-0 run."""
    rows = states_to_rows(states, 1.0)
    return [(st, int(b - a)) for (_, _, prev), (a, b, st), (_, _, nxt)
            in zip(rows, rows[1:], rows[2:]) if 0 not in (prev, st, nxt)]

class SpringerModel:
    """Hyper-parameters, fitting and JSON persistence of
    :class:`~heartsound.segmentation.springer.SpringerSegmenter` (see it for the
    parameters and fitted attributes)."""

    def __init__(self, *, extended_features: bool = True,
                 augment_band_hz: tuple[float, float] | None = (60.0, 250.0),
                 C: float = 1.0, max_train_frames: int = 2_000_000,
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
    def features(self, y: np.ndarray, sr: float, *, frontend: Frontend | None = None) -> np.ndarray:
        """The feature matrix this segmenter decodes, ``np.ndarray [shape=(n_frames, n_features)]``.

        ``frontend`` (the recording's :class:`heartsound.frontend.Frontend`) reuses the
        signals already computed for it;"""
        return springer_features(y, sr, extended=self.extended_features,
                                 frontend=frontend)[0]

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
            ) -> SpringerModel:
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
    def from_dict(cls: type[_M], d: dict[str, Any], *, source: str = "<dict>") -> _M:
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
    def load(cls: type[_M], path: str | Path) -> _M:
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
        return f"{type(self).__name__}({params})"
