"""The labelled recordings of a site: the labels file, and the shipped model's raw scores
and spectral profiles of the audio (the inputs of :func:`~.fit.fit`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..classification.frontend import FrontendConfig, features
from ..classification.inference import classify, load_bundle
from ..classification.ood import profile
from ..classification.tasks import LABELS, check_task
from ..errors import ModelError, ParameterError
from ..frontend import Frontend
from ..io import load
from .bands import band_variance, reference, scale_input, site_scale
from .model import POSITIVE

__all__ = ["read_labels", "scores_of", "normalised_scores_of", "model_frontend"]


def read_labels(path: str | Path, task: str, audio: str | Path | None = None
                ) -> list[tuple[Path, str]]:
    """Rows of a labels CSV: columns ``file`` (relative to ``audio``, default the CSV's
    folder) and ``label`` (a class of ``task``).

    Raises
    ------
    ParameterError
        Missing file or columns, an unknown label (with its line), no rows.
    """
    check_task(task)
    p = Path(path)
    base = Path(audio) if audio is not None else p.parent
    try:
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ParameterError(f"{p}: cannot read the labels ({exc})") from exc
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise ParameterError(f"{p}: needs a header with columns 'file' and 'label' and "
                             "at least one row")
    out = []
    for i, r in enumerate(rows, start=2):
        lab = (r["label"] or "").strip()
        if lab not in LABELS[task]:
            raise ParameterError(f"{p} line {i}: label {lab!r} is not a class of {task} "
                                 f"({', '.join(LABELS[task])})")
        out.append((base / r["file"].strip(), lab))
    return out


def scores_of(task: str, files: Sequence[str | Path], *, with_profiles: bool = False,
              progress: Callable[[int, int], None] | None = None
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """The shipped ``task`` model's raw decision score of each file (as ``analyze``
    computes it) and, if asked, each file's spectral profile.

    Returns
    -------
    scores : np.ndarray [shape=(n,)]
        ``P(abnormal)`` or ``P(Present)``.
    profiles : np.ndarray [shape=(n, 32)] or None
    """
    if task not in POSITIVE:
        raise ParameterError(f"calibration supports tasks {', '.join(POSITIVE)}, not {task!r}")
    scores, profs = [], []
    for i, f in enumerate(files):
        rec = load(f)
        fe = Frontend(rec.y, rec.sr, source=rec.source)
        scores.append(classify(rec.y, rec.sr, task=task, frontend=fe)
                      .probabilities[POSITIVE[task]])
        if with_profiles:
            profs.append(profile(rec.y, rec.sr, frontend=fe))
        if progress is not None:
            progress(i + 1, len(files))
    return np.array(scores), (np.array(profs) if with_profiles else None)


def model_frontend(task: str) -> FrontendConfig:
    """The front end of the shipped ``task`` model, checked against the one its band
    reference (:func:`.bands.reference`) was computed with.

    Raises
    ------
    ModelError
        They differ (the reference is stale).
    """
    fe = FrontendConfig(**load_bundle(task)["frontend"])
    if reference(task)["frontend"] != fe.to_dict():
        raise ModelError(f"the {task} band reference was computed with another front end "
                         "than the shipped model's: rerun scripts/calibration_band_reference.py")
    return fe


def normalised_scores_of(task: str, files: Sequence[str | Path], *,
                         with_profiles: bool = False,
                         progress: Callable[[int, int], None] | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """As :func:`scores_of`, with the model's input normalised per band to the files'
    own statistics (:mod:`.bands`): every file's input is computed, the per-band factors
    are fitted on all of them, and the model is run on the scaled inputs.

    Returns
    -------
    scores : np.ndarray [shape=(n,)]
    profiles : np.ndarray [shape=(n, 32)] or None
    scale : np.ndarray [shape=(n_mels,)]
        The per-band factors (the calibration's ``input_scale``).
    """
    cfg = model_frontend(task)
    feats, profs = [], []
    for i, f in enumerate(files):
        rec = load(f)
        fe = Frontend(rec.y, rec.sr, source=rec.source)
        feats.append(features(rec.y, rec.sr, cfg, frontend=fe))
        if with_profiles:
            profs.append(profile(rec.y, rec.sr, frontend=fe))
        if progress is not None:
            progress(i + 1, 2 * len(files))
    ref = np.asarray(reference(task)["band_variance"], np.float64)
    scale = site_scale(np.array([band_variance(x, cfg.n_mels) for x in feats]), ref)
    scores = []
    for i, x in enumerate(feats):
        # with ``features`` given, classify uses neither the samples nor the rate
        r = classify(np.zeros(0), cfg.sr, task=task, features=scale_input(x, scale))
        scores.append(r.probabilities[POSITIVE[task]])
        if progress is not None:
            progress(len(files) + i + 1, 2 * len(files))
    return np.array(scores), (np.array(profs) if with_profiles else None), scale
