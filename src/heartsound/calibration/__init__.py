"""Site calibration: refit, on a site's own labelled recordings, what does not transfer
between sites and devices (the decision threshold, the probability scale, and optionally a
light adaptation to the recording chain), without retraining the shipped models.

* :func:`fit` (task, raw scores, labels[, profiles]) -> :class:`Calibration`;
* :func:`save` / :func:`load` the small JSON file with its provenance;
* :func:`scores_of` the shipped model's raw scores (and spectral profiles) of audio files,
  :func:`normalised_scores_of` the same with the model's input normalised per band to
  the files' statistics (:mod:`.bands`; the calibration then stores the factors);
* :func:`apply` / :func:`apply_all` calibrate classification results
  (``heartsound.analyze(..., calibration=...)``, ``heartsound analyze --calibration``).

Command: ``heartsound calibrate --task abnormal --labels labels.csv --audio DIR --out
cal.json``. Figures (PhysioNet 2016 leave-one-database-out, k labelled recordings of the
new site): ``docs/results/generalisation.md``, ``docs/results/
generalisation_calibration.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Calibration", "METHODS", "POSITIVE", "fit", "load", "save", "apply",
           "apply_all", "as_calibrations", "scores_of", "normalised_scores_of", "read_labels"]

_LAZY = {"Calibration": "model", "METHODS": "model", "POSITIVE": "model", "load": "model",
         "save": "model", "fit": "fitting", "apply": "applying", "apply_all": "applying",
         "as_calibrations": "applying", "scores_of": "files", "read_labels": "files",
         "normalised_scores_of": "files"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
