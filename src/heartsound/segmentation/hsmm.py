"""Explicit-duration hidden semi-Markov model of the cardiac cycle and its Viterbi decoder.

The model has four states visited in a fixed cyclic order, S1 (1) -> systole (2) -> S2 (3)
-> diastole (4) -> S1, each with a Gaussian duration distribution (:class:`DurationModel`,
Schmidt et al. 2010; Springer et al. 2016, Sec. II-D). :func:`decode` finds the most likely
state sequence with the duration-dependent Viterbi algorithm in its *extended* form
(Springer et al. 2016, Sec. II-E): the first and the last segment may have begun before
the first frame or end after the last one, so their observed length is scored with the
probability that the state lasts *at least* that long instead of exactly that long.

Emissions are per-frame log-likelihoods ``log b_j(o_t)``, or state posteriors
``P(j | o_t)`` (logistic regression in :mod:`heartsound.segmentation.springer`, a neural
network in :mod:`heartsound.segmentation.neural`) turned into scaled likelihoods by Bayes'
rule ``b_j(o_t) = P(j | o_t) P(o_t) / P(j)`` (:func:`posteriors_to_loglik`). ``P(o_t)`` is
the same for every state of a frame and every path visits every frame once, so it shifts
the path score but never changes the decoded path.

Cost is ``O(n_frames x max_duration x 4)`` with one numpy step per frame: linear in the
length of the recording, because durations are truncated at ``mean + 3 SD``. Memory is
``O(max_duration)`` plus one ``int16`` back pointer per frame and state: the decoder
(:class:`heartsound.segmentation.viterbi.ExtendedViterbi`) is fed the frames in blocks and
keeps only the last ``max_duration + 1`` rows of its score tables.

References
----------
S. E. Schmidt, C. Holst-Hansen, C. Graff, E. Toft, J. J. Struijk. "Segmentation of heart
sound recordings by a duration-dependent hidden Markov model." Physiol. Meas.
31(4):513-529, 2010. doi:10.1088/0967-3334/31/4/004

D. B. Springer, L. Tarassenko, G. D. Clifford. "Logistic Regression-HSMM-Based Heart Sound
Segmentation." IEEE Trans. Biomed. Eng. 63(4):822-832, 2016. doi:10.1109/TBME.2015.2475278
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ParameterError
from .viterbi import ExtendedViterbi

__all__ = ["N_STATES", "SOUND_DURATIONS_S", "DurationModel", "duration_model",
           "posteriors_to_loglik", "decode", "decode_with_score"]

#: Number of HSMM states (S1, systole, S2, diastole, coded 1..4 in outputs).
N_STATES = 4
#: Mean and SD (s) of the S1 and S2 durations (Schmidt et al. 2010, as used by Springer).
SOUND_DURATIONS_S: dict[str, tuple[float, float]] = {"S1": (0.122, 0.022), "S2": (0.094, 0.022)}
#: SD (s) of the systole duration.
SYSTOLE_SD_S = 0.025
#: Diastole SD = DIASTOLE_SD_SLOPE x mean + DIASTOLE_SD_OFFSET_S.
DIASTOLE_SD_SLOPE = 0.07
DIASTOLE_SD_OFFSET_S = 0.006
#: Shortest mean systole / diastole (s) the model accepts at very high heart rates.
MIN_MEAN_S = 0.04
#: Frames fed to the decoder at a time (the result does not depend on it).
DECODE_BLOCK = 4096


@dataclass(frozen=True)
class DurationModel:
    """Gaussian state durations, truncated at ``mean +- n_sd SD`` and discretised in frames.

    Attributes
    ----------
    mean_s, sd_s : tuple of 4 floats
        Mean and standard deviation (s) of S1, systole, S2 and diastole.
    frame_rate : float
        Frames per second (50 Hz).
    n_sd : float
        Truncation in standard deviations.
    heart_rate_bpm, systolic_interval_s : float
        The estimates the model was built from (``nan`` when built by hand).
    """

    mean_s: tuple[float, float, float, float]
    sd_s: tuple[float, float, float, float]
    frame_rate: float = 50.0
    n_sd: float = 3.0
    heart_rate_bpm: float = float("nan")
    systolic_interval_s: float = float("nan")
    # not an __init__ argument: dataclasses.replace() then builds a fresh cache instead of
    # sharing the original's (whose tables belong to the old durations)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                   compare=False)

    def __post_init__(self) -> None:
        if len(self.mean_s) != N_STATES or len(self.sd_s) != N_STATES:
            raise ParameterError("mean_s and sd_s need one value per state (4)")
        if not (np.all(np.isfinite(self.mean_s)) and np.all(np.asarray(self.mean_s) > 0)
                and np.all(np.asarray(self.sd_s) > 0)):
            raise ParameterError(f"durations must be positive, got mean {self.mean_s} s, "
                                 f"SD {self.sd_s} s")
        if not self.frame_rate > 0:
            raise ParameterError(f"frame_rate must be positive, got {self.frame_rate}")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Shortest and longest admissible duration of each state, in frames.

        Returns
        -------
        min_frames, max_frames : np.ndarray [shape=(4,), dtype=int]
        """
        m = np.asarray(self.mean_s) * self.frame_rate
        s = np.asarray(self.sd_s) * self.frame_rate
        lo = np.maximum(1, np.floor(m - self.n_sd * s)).astype(int)
        hi = np.maximum(lo, np.ceil(m + self.n_sd * s)).astype(int)
        return lo, hi

    @property
    def max_frames(self) -> int:
        """Longest admissible duration of any state (frames)."""
        return int(self.bounds()[1].max())

    def log_pmf(self) -> np.ndarray:
        """Log-probability of each duration ``d = 1 .. max_frames`` frames.

        Returns
        -------
        np.ndarray [shape=(4, max_frames)]
            Row ``j`` column ``d - 1``: ``log P(duration of state j = d frames)``, the
            Gaussian density sampled at ``d``, normalised over the admissible range and
            ``-inf`` outside it.
        """
        if "log_pmf" not in self._cache:
            lo, hi = self.bounds()
            d = np.arange(1, self.max_frames + 1, dtype=np.float64)
            m = np.asarray(self.mean_s)[:, None] * self.frame_rate
            s = np.asarray(self.sd_s)[:, None] * self.frame_rate
            logp = -0.5 * ((d[None, :] - m) / s) ** 2
            ok = (d[None, :] >= lo[:, None]) & (d[None, :] <= hi[:, None])
            logp = np.where(ok, logp, -np.inf)
            logp -= np.logaddexp.reduce(logp, axis=1, keepdims=True)
            self._cache["log_pmf"] = logp
        return self._cache["log_pmf"]

    def log_survival(self) -> np.ndarray:
        """``log P(duration >= d)`` for ``d = 1 .. max_frames``, shape ``(4, max_frames)``.

        Scores the observed part of a segment cut by an edge of the recording.
        """
        if "log_surv" not in self._cache:
            logp = self.log_pmf()
            rev = np.logaddexp.accumulate(logp[:, ::-1], axis=1)[:, ::-1]
            self._cache["log_surv"] = rev
        return self._cache["log_surv"]

    def to_dict(self) -> dict[str, Any]:
        return {"mean_s": [round(float(v), 5) for v in self.mean_s],
                "sd_s": [round(float(v), 5) for v in self.sd_s],
                "frame_rate": self.frame_rate, "n_sd": self.n_sd,
                "heart_rate_bpm": float(self.heart_rate_bpm),
                "systolic_interval_s": float(self.systolic_interval_s)}


def duration_model(heart_rate_bpm: float, systolic_interval_s: float, *,
                   frame_rate: float = 50.0, s1: tuple[float, float] | None = None,
                   s2: tuple[float, float] | None = None, n_sd: float = 3.0) -> DurationModel:
    """The duration model of Springer et al. (2016) for one recording.

    With cycle length ``T = 60 / heart_rate_bpm`` and systolic interval ``I`` (S1 onset to
    S2 onset, from :func:`heartsound.segmentation.heart_rate.estimate_heart_rate`):

    * S1: mean 122 ms, SD 22 ms; S2: mean 94 ms, SD 22 ms (``s1``/``s2`` override them);
    * systole: mean ``I - mean(S1)``, SD 25 ms;
    * diastole: mean ``T - I - mean(S2)``, SD ``0.07 x mean + 6 ms``.

    Systole and diastole means are kept at least 40 ms, so very high heart rates still
    give a valid model.

    Parameters
    ----------
    heart_rate_bpm : float
        Heart rate in beats per minute (positive).
    systolic_interval_s : float
        S1-onset to S2-onset interval in seconds (positive, shorter than the cycle).
    frame_rate : float
        Frames per second of the sequence to decode.
    s1, s2 : (mean_s, sd_s), optional
        Sound durations, e.g. fitted on training data.
    n_sd : float
        Truncation of every Gaussian in standard deviations.

    Returns
    -------
    DurationModel

    Examples
    --------
    >>> dm = duration_model(60.0, 0.35)
    >>> [round(v, 3) for v in dm.mean_s]
    [0.122, 0.228, 0.094, 0.556]
    """
    hr = float(heart_rate_bpm)
    si = float(systolic_interval_s)
    if not (np.isfinite(hr) and hr > 0):
        raise ParameterError(f"heart_rate_bpm must be positive, got {heart_rate_bpm}")
    cycle = 60.0 / hr
    if not (np.isfinite(si) and 0 < si < cycle):
        raise ParameterError(f"systolic_interval_s must be in (0, {cycle:.3f}) s for "
                             f"{hr:.1f} bpm, got {systolic_interval_s}")
    m1, sd1 = s1 if s1 is not None else SOUND_DURATIONS_S["S1"]
    m2, sd2 = s2 if s2 is not None else SOUND_DURATIONS_S["S2"]
    sys_m = max(si - m1, MIN_MEAN_S)
    dia_m = max(cycle - si - m2, MIN_MEAN_S)
    dia_sd = DIASTOLE_SD_SLOPE * dia_m + DIASTOLE_SD_OFFSET_S
    return DurationModel(mean_s=(m1, sys_m, m2, dia_m), sd_s=(sd1, SYSTOLE_SD_S, sd2, dia_sd),
                         frame_rate=float(frame_rate), n_sd=float(n_sd),
                         heart_rate_bpm=hr, systolic_interval_s=si)


def posteriors_to_loglik(posteriors: np.ndarray, priors: np.ndarray | None = None,
                         log_evidence: np.ndarray | None = None, *,
                         floor: float = 1e-10) -> np.ndarray:
    """Scaled log-likelihoods from state posteriors (Springer et al. 2016, eq. 9).

    ``log b_j(o_t) = log P(j | o_t) + log P(o_t) - log P(j)``.

    Parameters
    ----------
    posteriors : np.ndarray [shape=(n_frames, 4)]
        ``P(state j | o_t)`` for S1, systole, S2, diastole (rows need not sum to one).
    priors : np.ndarray [shape=(4,)], optional
        ``P(j)``, e.g. the state frequencies of the training data; uniform if omitted.
    log_evidence : np.ndarray [shape=(n_frames,)], optional
        ``log P(o_t)`` (a multivariate normal fitted to the training features); zero if
        omitted, which does not change the decoded path.
    floor : float
        Posteriors are clipped to ``[floor, 1]`` before the logarithm.

    Returns
    -------
    np.ndarray [shape=(n_frames, 4)]
    """
    p = np.asarray(posteriors, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != N_STATES:
        raise ParameterError(f"posteriors must have shape (n_frames, 4), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ParameterError("posteriors contain NaN or infinite values")
    out = np.log(np.clip(p, floor, 1.0))
    if priors is not None:
        pr = np.asarray(priors, dtype=np.float64).reshape(-1)
        if pr.shape != (N_STATES,) or np.any(pr <= 0):
            raise ParameterError(f"priors must be 4 positive probabilities, got {priors!r}")
        out = out - np.log(pr / pr.sum())[None, :]
    if log_evidence is not None:
        le = np.asarray(log_evidence, dtype=np.float64).reshape(-1)
        if le.shape != (p.shape[0],):
            raise ParameterError(f"log_evidence must have shape ({p.shape[0]},), got {le.shape}")
        out = out + le[:, None]
    return out


def _emissions(emission: np.ndarray, kind: str, priors: Any, log_evidence: Any) -> np.ndarray:
    if kind == "posteriors":
        return posteriors_to_loglik(emission, priors, log_evidence)
    if kind != "loglik":
        raise ParameterError(f"kind must be 'loglik' or 'posteriors', got {kind!r}")
    e = np.asarray(emission, dtype=np.float64)
    if e.ndim != 2 or e.shape[1] != N_STATES:
        raise ParameterError(f"emission must have shape (n_frames, 4), got {e.shape}")
    if np.any(np.isnan(e)) or np.any(e == np.inf):
        raise ParameterError("emission log-likelihoods contain NaN or +inf")
    return e


def decode_with_score(emission: np.ndarray, durations: DurationModel, *,
                      kind: str = "loglik", priors: np.ndarray | None = None,
                      log_evidence: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """As :func:`decode`, also returning the log-score of the best path.

    The score is ``log P(path, observations)`` up to a constant that depends only on the
    number of frames, so scores of the same emissions under different duration models
    (e.g. candidate heart rates) can be compared.
    """
    e = _emissions(emission, kind, priors, log_evidence)
    if e.shape[0] < 2:
        raise ParameterError(f"need at least 2 frames to decode, got {e.shape[0]}")
    viterbi = ExtendedViterbi(durations)
    for i in range(0, e.shape[0], DECODE_BLOCK):
        viterbi.push(e[i:i + DECODE_BLOCK])
    return viterbi.finish()


def decode(emission: np.ndarray, durations: DurationModel, *, kind: str = "loglik",
           priors: np.ndarray | None = None,
           log_evidence: np.ndarray | None = None) -> np.ndarray:
    """Most likely cyclic state sequence (extended duration-dependent Viterbi).

    Parameters
    ----------
    emission : np.ndarray [shape=(n_frames, 4)]
        ``kind="loglik"``: ``log b_j(o_t)`` for S1, systole, S2, diastole (``-inf``
        allowed). ``kind="posteriors"``: ``P(j | o_t)``, converted by
        :func:`posteriors_to_loglik` with ``priors`` and ``log_evidence``.
    durations : DurationModel
        From :func:`duration_model`, at the frame rate of ``emission``.
    kind : {"loglik", "posteriors"}
    priors : np.ndarray [shape=(4,)], optional
        State priors ``P(j)`` (posteriors only).
    log_evidence : np.ndarray [shape=(n_frames,)], optional
        ``log P(o_t)`` (posteriors only).

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=int8]
        States 1 (S1), 2 (systole), 3 (S2), 4 (diastole). Consecutive segments always
        follow the order 1 -> 2 -> 3 -> 4 -> 1; inner segments have admissible durations,
        the first and last may be cut by the edges.

    Raises
    ------
    ParameterError
        Wrong shapes, NaN, fewer than 2 frames, or no admissible path.

    Examples
    --------
    >>> dm = duration_model(75.0, 0.3)
    >>> post = np.full((200, 4), 0.25)
    >>> s = decode(post, dm, kind="posteriors")
    >>> sorted(set(s.tolist()))
    [1, 2, 3, 4]
    """
    return decode_with_score(emission, durations, kind=kind, priors=priors,
                             log_evidence=log_evidence)[0]
