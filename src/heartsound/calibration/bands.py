"""Per-band input normalisation to a site (``heartsound calibrate --band-norm``).

The ``abnormal`` model's input is the log-Mel spectrogram with each band's mean over the
recording removed and the whole recording divided by one standard deviation
(``normalize="recording_bins"``): the gain and each band's level drop out, but not how
much each band moves over time relative to the others, which the recording chain (the
stethoscope's response, its noise floor) changes. A site's calibration stores one
factor per Mel band, ``sqrt(reference / site)``: the reference is each band's variance
over time averaged over the model's training recordings (``models/abnormal_bands.json``,
``scripts/calibration_band_reference.py``), the site's the same average over its
labelled recordings. The model is then run on inputs whose Mel bands are multiplied by
the factors (the phase channels are left as they are); the calibration map is fitted on
the scores of those inputs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from ..errors import ModelError, ParameterError

__all__ = ["band_variance", "site_scale", "scale_input", "reference", "REFERENCE_FILES"]

#: Reference statistics shipped per task (in :mod:`heartsound.models`).
REFERENCE_FILES = {"abnormal": "abnormal_bands.json"}


def band_variance(features: np.ndarray, n_mels: int) -> np.ndarray:
    """Variance over time of each Mel band of one recording's model input.

    Parameters
    ----------
    features : np.ndarray [shape=(n_frames, n_features)]
        The model input; its first ``n_mels`` columns are the Mel bands.
    n_mels : int

    Returns
    -------
    np.ndarray [shape=(n_mels,), dtype=float64]
    """
    return np.asarray(features[:, :n_mels], np.float64).var(axis=0)


@lru_cache(maxsize=None)
def reference(task: str) -> dict[str, Any]:
    """The shipped reference statistics of ``task``'s model: ``band_variance``
    (list, one per Mel band) and the ``frontend`` they were computed with.

    Raises
    ------
    ParameterError
        No reference for ``task``.
    ModelError
        The file is missing or malformed.
    """
    if task not in REFERENCE_FILES:
        raise ParameterError(f"per-band normalisation is available for "
                             f"{', '.join(REFERENCE_FILES)}, not {task!r}")
    name = REFERENCE_FILES[task]
    try:
        d = json.loads(files("heartsound.models").joinpath(name).read_text())
        np.asarray(d["band_variance"], np.float64)
        d["frontend"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"models/{name}: cannot read the band reference ({exc})") from exc
    return d


def site_scale(variances: np.ndarray, ref_variance: np.ndarray) -> np.ndarray:
    """Per-band factors ``sqrt(reference / site)`` of a site.

    Parameters
    ----------
    variances : np.ndarray [shape=(n_recordings, n_mels)]
        :func:`band_variance` of each of the site's recordings.
    ref_variance : np.ndarray [shape=(n_mels,)]

    Returns
    -------
    np.ndarray [shape=(n_mels,), dtype=float64]

    Raises
    ------
    ParameterError
        No recordings, a shape mismatch, or a band without variance at the site.
    """
    v = np.atleast_2d(np.asarray(variances, np.float64))
    ref = np.asarray(ref_variance, np.float64)
    if v.shape[0] == 0 or v.shape[1] != ref.shape[0]:
        raise ParameterError(f"band variances of shape {v.shape} do not match the "
                             f"reference's {ref.shape[0]} bands")
    site = v.mean(axis=0)
    if not np.all(site > 0):
        raise ParameterError("a Mel band does not vary in any of the site's recordings")
    return np.sqrt(ref / site)


def scale_input(features: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """A float32 copy of a model input with its first ``len(scale)`` columns (the Mel
    bands) multiplied by ``scale``."""
    out = np.array(features, np.float32)
    s = np.asarray(scale, np.float32)
    out[:, :len(s)] *= s
    return out
