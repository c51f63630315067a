"""How typical a recording is of the classifiers' training data (out-of-distribution score).

A recording is summarised by its **spectral profile** (:func:`profile`): the log-Mel
spectrogram of the classifiers' front end (64 bands 25-1000 Hz at 2000 Hz, normalised by
the recording's mean and standard deviation, so the gain drops out) pooled into
:data:`N_BANDS` bands, and per band the mean over time (the recording chain's spectral
shape) and the standard deviation over time (how much the band moves with the beats),
both over the frames outside the recording's stretches without signal
(:mod:`heartsound.quality_silence`; all frames when there is none).

The training corpora are described by one Gaussian per recording site (each PhysioNet
2016 database, CirCor; :func:`fit_stats`, shrunk covariance), stored in
``models/ood_profile.json`` (written by ``scripts/fit_ood_profile.py``). The score of a
recording is its Mahalanobis distance to the nearest site, in units of the profile's
dimensions (:func:`score`, ``sqrt(d^2 / n_dims)``: the training sites' medians are
0.55-0.71); it is flagged ``atypical`` past the stored threshold, the 99th percentile of
the training recordings' own scores. It says the recording chain or the sounds differ
from everything the models saw, not that the label is wrong; ``docs/results/
generalisation.md`` measures how often it separates a new site and how errors grow with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ModelError, ParameterError
from ..frontend import Frontend
from ..quality_silence import gaps_of
from .crops import signal_rows
from .frontend import FrontendConfig, log_mel

__all__ = ["profile", "OODStats", "fit_stats", "load_stats", "score", "assess", "typicality",
           "N_BANDS", "PROFILE_FILE", "PROFILE_CONFIG"]

#: Bands the 64 log-Mel bands are pooled into (4 adjacent Mel bands each).
N_BANDS = 16
#: The front end of the profile: the classifiers' log-Mel, gain removed per recording.
PROFILE_CONFIG = FrontendConfig(normalize="recording")
#: The shipped statistics of the training corpora (in :mod:`heartsound.models`).
PROFILE_FILE = "ood_profile.json"


def profile(y: np.ndarray, sr: int, *, frontend: Frontend | None = None) -> np.ndarray:
    """Spectral profile of one recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples at ``sr`` (at least one 128 ms window after resampling to 2000 Hz).
    sr : int
        Sample rate in Hz.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end (its 2000 Hz signal is reused).

    Returns
    -------
    np.ndarray [shape=(2 * N_BANDS,), dtype=float64]
        Per band: the mean over time of the normalised log-Mel, then the standard
        deviations over time, over the frames with signal.
    """
    gaps = gaps_of(y, sr, frontend)
    m = log_mel(y, sr, PROFILE_CONFIG, frontend=frontend, no_signal=gaps).astype(np.float64)
    rows = signal_rows(gaps, len(m), PROFILE_CONFIG)
    m = m if rows is None else m[rows]
    b = m.reshape(len(m), N_BANDS, -1).mean(axis=2)  # (frames, bands)
    return np.concatenate([b.mean(axis=0), b.std(axis=0)])


@dataclass(frozen=True)
class OODStats:
    """Gaussians of the training sites' profiles and the flag threshold.

    Attributes
    ----------
    sites : tuple of str
    means : np.ndarray [shape=(n_sites, n_dims)]
    precisions : np.ndarray [shape=(n_sites, n_dims, n_dims)]
        Inverse of each site's shrunk covariance.
    threshold : float
        Scores at or above it are flagged ``atypical``.
    meta : dict
        Provenance (corpora, counts, shrinkage, percentile, date).
    """

    sites: tuple[str, ...]
    means: np.ndarray
    precisions: np.ndarray
    threshold: float
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"sites": list(self.sites), "means": np.round(self.means, 6).tolist(),
                "precisions": np.round(self.precisions, 6).tolist(),
                "threshold": float(self.threshold), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OODStats:
        return cls(tuple(d["sites"]), np.asarray(d["means"], np.float64),
                   np.asarray(d["precisions"], np.float64), float(d["threshold"]),
                   dict(d.get("meta", {})))


def _distances(stats: OODStats, x: np.ndarray) -> np.ndarray:
    """Scaled Mahalanobis distance of each row of ``x`` [shape=(n, n_dims)] to each site
    [shape=(n, n_sites)]."""
    diff = x[:, None, :] - stats.means[None]  # (n, sites, dims)
    d2 = np.einsum("nsi,sij,nsj->ns", diff, stats.precisions, diff)
    return np.sqrt(np.maximum(d2, 0.0) / x.shape[1])


def score(stats: OODStats, x: np.ndarray) -> np.ndarray:
    """OOD scores of profiles ``x`` [shape=(n, n_dims)] or [shape=(n_dims,)]: the
    distance to the nearest training site (0 at a site's mean; one standard deviation
    away along every independent axis scores 1). Returns shape (n,) or a 0-d array."""
    x = np.asarray(x, np.float64)
    if x.shape[-1] != stats.means.shape[1]:
        raise ParameterError(f"profiles have {x.shape[-1]} values, the OOD statistics "
                             f"{stats.means.shape[1]}")
    return _distances(stats, np.atleast_2d(x)).min(axis=1).reshape(x.shape[:-1])


def fit_stats(x: np.ndarray, sites: Sequence[str], *, shrinkage: float = 0.1,
              percentile: float = 99.0, meta: dict[str, Any] | None = None) -> OODStats:
    """One Gaussian per site of the profiles ``x`` [shape=(n, n_dims)].

    Each covariance is shrunk toward its diagonal, ``(1 - shrinkage) S + shrinkage
    diag(S)``; the threshold is the ``percentile`` of the fitted recordings' own scores.
    """
    x = np.asarray(x, np.float64)
    names = sorted(set(sites))
    lab = np.asarray(sites)
    means, precs = [], []
    for s in names:
        xs = x[lab == s]
        if len(xs) < 3:
            raise ParameterError(f"site {s!r} has {len(xs)} profiles; need at least 3")
        c = np.cov(xs, rowvar=False)
        c = (1 - shrinkage) * c + shrinkage * np.diag(np.diag(c)) + 1e-6 * np.eye(len(c))
        means.append(xs.mean(axis=0))
        precs.append(np.linalg.inv(c))
    st = OODStats(tuple(names), np.array(means), np.array(precs), 0.0, dict(meta or {}))
    thr = float(np.percentile(score(st, x), percentile))
    m = {**st.meta, "shrinkage": shrinkage, "percentile": percentile,
         "n_per_site": {s: int((lab == s).sum()) for s in names}}
    return OODStats(st.sites, st.means, st.precisions, thr, m)


@lru_cache(maxsize=4)
def _read(path: str | None) -> OODStats:
    src = files("heartsound.models") / PROFILE_FILE if path is None else Path(path)
    try:
        return OODStats.from_dict(json.loads(src.read_text()))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{src}: cannot read the OOD statistics ({exc})") from exc


def load_stats(path: str | Path | None = None) -> OODStats:
    """The shipped statistics (``models/ood_profile.json``) or those at ``path``."""
    return _read(None if path is None else str(path))


def assess(y: np.ndarray, sr: int, *, frontend: Frontend | None = None,
           stats: OODStats | None = None) -> dict[str, Any]:
    """How typical one recording is of the training data.

    Returns
    -------
    dict
        ``score`` (distance to the nearest training site, :func:`score`), ``threshold``,
        ``atypical`` (``score >= threshold``), ``nearest_site``.
    """
    st = load_stats() if stats is None else stats
    x = profile(y, sr, frontend=frontend)[None]
    d = _distances(st, x)[0]
    k = int(np.argmin(d))
    return {"score": float(d[k]), "threshold": st.threshold,
            "atypical": bool(d[k] >= st.threshold), "nearest_site": st.sites[k]}


def typicality(y: np.ndarray, sr: int, *, frontend: Frontend | None = None
               ) -> dict[str, Any] | None:
    """:func:`assess` with the shipped statistics, or None when they cannot be read
    (what :func:`heartsound.analyze` reports as ``typicality``)."""
    try:
        stats = load_stats()
    except ModelError:
        return None
    return assess(y, sr, frontend=frontend, stats=stats)
