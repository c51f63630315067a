"""A site calibration: what it maps, its threshold and where it came from; read and write.

A :class:`Calibration` turns the task's raw decision score (``P(abnormal)`` or
``P(Present)``, :data:`~heartsound.classification.decision.SCORE_NAMES`) of the shipped
model into a site-calibrated probability of the task's finding (:data:`POSITIVE`) and
decides the finding by comparing it with a threshold fitted on the site's labelled
recordings. Methods (:data:`METHODS`):

* ``threshold``: the raw score kept, only the threshold refitted;
* ``platt``: logistic regression on the logit of the raw score (Platt 1999);
* ``isotonic``: isotonic regression of the label on the raw score (piecewise linear);
* ``adapt``: logistic regression on the logit of the raw score and the recording's
  spectral profile (:func:`heartsound.classification.ood.profile`, standardised), L2
  regularised: a light adaptation to the site's recording chain.

Any method may also carry ``input_scale``, per-band factors applied to the model's input
before it is run (per-band input normalisation to the site, :mod:`.bands`); its map is
then of the scores of the normalised inputs.

The file is small JSON (:func:`save`, :func:`load`) with its provenance: task, the sha256
of the model it was fitted for (:data:`heartsound.bundle.REGISTRY`), counts per class,
date, heartsound version and method. Applying a calibration to another model or task
raises (:meth:`Calibration.check`). Format ``heartsound-calibration/2`` added
``input_scale``; files of format 1 still load (without it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, ParameterError
from ..serialize import json_text, write_atomic

__all__ = ["Calibration", "METHODS", "POSITIVE", "FORMAT", "READABLE_FORMATS", "load",
           "save", "logit"]

#: Calibration methods, cheapest first.
METHODS = ("threshold", "platt", "isotonic", "adapt")
#: The finding whose probability is calibrated, per supported task.
POSITIVE: dict[str, str] = {"abnormal": "abnormal", "murmur": "Present"}
#: Format tag written in every calibration file.
FORMAT = "heartsound-calibration/2"
#: Formats :func:`load` reads (1: before ``input_scale``).
READABLE_FORMATS = ("heartsound-calibration/1", FORMAT)


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to [1e-6, 1 - 1e-6]."""
    q = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass(frozen=True)
class Calibration:
    """A fitted site calibration of one task.

    Attributes
    ----------
    task : str
    method : str
        One of :data:`METHODS`.
    threshold : float
        The finding is reported when the calibrated score is at or above it.
    params : dict
        Method parameters: ``coef`` and ``intercept`` (``platt``, ``adapt``; ``adapt``
        also ``mean`` and ``scale`` of the profile), ``x`` and ``y`` (``isotonic``).
    provenance : dict
        ``model_sha256``, ``n_per_class``, ``date``, ``heartsound_version``, ``labels``.
    source : str or None
        File it was read from.
    sha256 : str or None
        sha256 of that file.
    input_scale : tuple of float or None
        Factor of each Mel band of the model input (:mod:`.bands`), or None: the input
        is left as it is.
    """

    task: str
    method: str
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    sha256: str | None = None
    input_scale: tuple[float, ...] | None = None

    @property
    def needs_profile(self) -> bool:
        """True when the spectral profile of each recording is an input."""
        return self.method == "adapt"

    @property
    def n(self) -> int:
        """Labelled recordings it was fitted on."""
        return int(sum(self.provenance.get("n_per_class", {}).values()))

    def calibrated(self, raw: np.ndarray, profiles: np.ndarray | None = None) -> np.ndarray:
        """Calibrated score of raw scores [shape=(n,)] (and profiles [shape=(n, d)] for
        ``adapt``), shape (n,)."""
        raw = np.atleast_1d(np.asarray(raw, np.float64))
        p = self.params
        if self.method == "threshold":
            return raw
        if self.method == "isotonic":
            return np.interp(raw, p["x"], p["y"])
        z = float(p["coef"][0]) * logit(raw) + float(p["intercept"])
        if self.method == "adapt":
            if profiles is None:
                raise ParameterError("the 'adapt' calibration needs the recordings' profiles")
            x = (np.atleast_2d(profiles) - np.asarray(p["mean"])) / np.asarray(p["scale"])
            z = z + x @ np.asarray(p["coef"][1:], np.float64)
        return _sigmoid(z)

    def check(self, task: str, model_sha256: str) -> None:
        """Raise unless this calibration was fitted for ``task`` and the model file with
        ``model_sha256``."""
        where = self.source or "calibration"
        if task != self.task:
            raise ParameterError(f"{where}: calibrates task {self.task!r}, not {task!r}")
        want = self.provenance.get("model_sha256")
        if want != model_sha256:
            raise ModelError(f"{where}: fitted for the {task} model with sha256 "
                             f"{str(want)[:16]}..., but the model in use is "
                             f"{model_sha256[:16]}...: refit it with `heartsound calibrate`")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "task": self.task, "method": self.method,
                "positive": POSITIVE[self.task], "threshold": float(self.threshold),
                "input_scale": None if self.input_scale is None else list(self.input_scale),
                "params": self.params, "provenance": self.provenance}

    def summary(self) -> dict[str, Any]:
        """What an analysis reports about the calibration it applied (``expected``: the
        cross-validated balanced accuracy at the site and its 95 % interval, from
        ``heartsound calibrate``; None for files written before it was measured)."""
        est = self.provenance.get("estimate") or {}
        expected = None
        if est.get("available"):
            expected = {"balanced_accuracy": float(est["calibrated"]["balanced_accuracy"]),
                        "interval": [float(v) for v in est["interval"]["calibrated"]]}
        return {"file": None if self.source is None else Path(self.source).name,
                "sha256": self.sha256, "method": self.method, "fitted_on": self.n,
                "threshold": float(self.threshold),
                "band_normalised": self.input_scale is not None, "expected": expected}

    def caveat(self) -> str:
        """The caveat of a site-calibrated decision (replaces the model card's advice to
        recalibrate)."""
        where = self.summary()["file"] or "a calibration file"
        text = (f"Screening aid, not a diagnosis. Site-calibrated on {self.n} labelled "
                f"recordings ({where})")
        exp = self.summary()["expected"]
        if exp is not None:
            lo, hi = exp["interval"]
            text += (f"; expected balanced accuracy at that site {exp['balanced_accuracy']:.2f}"
                     f" ({lo:.2f}-{hi:.2f}), cross-validated on them")
        return text + "."


def save(cal: Calibration, path: str | Path) -> Path:
    """Write ``cal`` as JSON to ``path`` (atomically)."""
    return write_atomic(path, json_text(cal.to_dict(), indent=1))


def load(path: str | Path) -> Calibration:
    """Read a calibration file written by :func:`save` (``heartsound calibrate``).

    Raises
    ------
    ParameterError
        The file is missing, not JSON, not a heartsound calibration, or of a format this
        version cannot read (:data:`READABLE_FORMATS`).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
        d = json.loads(data)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{p}: cannot read the calibration ({exc})") from exc
    if not isinstance(d, dict) or not str(d.get("format", "")).startswith(
            "heartsound-calibration/"):
        raise ParameterError(f"{p}: not a heartsound calibration file (format {FORMAT})")
    if d["format"] not in READABLE_FORMATS:
        raise ParameterError(f"{p}: calibration format {d['format']!r} is not one this "
                             f"heartsound reads ({', '.join(READABLE_FORMATS)}): refit it "
                             "with this version's `heartsound calibrate`")
    scale = d.get("input_scale")
    if scale is not None and (not isinstance(scale, list) or not scale
                              or not all(isinstance(v, (int, float)) and v > 0
                                         for v in scale)):
        raise ParameterError(f"{p}: input_scale must be a list of positive numbers")
    if d.get("task") not in POSITIVE or d.get("method") not in METHODS:
        raise ParameterError(f"{p}: unknown task {d.get('task')!r} or method "
                             f"{d.get('method')!r}")
    return Calibration(task=d["task"], method=d["method"], threshold=float(d["threshold"]),
                       params=dict(d.get("params", {})),
                       provenance=dict(d.get("provenance", {})), source=str(p),
                       sha256=hashlib.sha256(data).hexdigest(),
                       input_scale=None if scale is None else tuple(float(v) for v in scale))
