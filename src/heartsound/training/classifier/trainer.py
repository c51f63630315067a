"""The public entry point for training one classifier: :func:`train`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...classification.tasks import patient_target, recording_target
from ...errors import ParameterError
from .config import TrainConfig
from .crossfit import fit_crossfit
from .data import feature_cache, split_val
from .loop import Trained, fit_network

__all__ = ["train"]


def train(task: str = "abnormal", model: str = "cnn", attention: str | None = "sigmoid",
          upsample: bool = False, train_records: Sequence[Any] = (), *,
          val_records: Sequence[Any] | None = None,
          features: dict[str, np.ndarray] | None = None,
          progress: bool = False, jobs: int = 1, **hyper: Any) -> Trained:
    """Train one classifier (one network, or a cross-fitted ensemble).

    Parameters
    ----------
    task : {"abnormal", "murmur", "severity"}
    model : {"cnn", "lstm", "gru"}
    attention : {"sigmoid", "softmax", None}
        Normalisation of the attention branch; None = global average pooling.
    upsample : bool
        Randomly repeat minority-class recordings each epoch until classes are balanced
        (otherwise the NLL loss is weighted by inverse class frequency, unless
        ``balance="database"`` is given in ``hyper``: see :class:`~.config.TrainConfig`).
    train_records : sequence of Record
        Training recordings (records without a target for ``task`` are skipped).
    val_records : sequence of Record, optional
        Inner validation recordings for early stopping and rule tuning; default: a
        group-stratified ``val_fraction`` of ``train_records``. Not with ``inner_folds``
        > 1, which makes its own folds.
    features : dict, optional
        Precomputed :func:`~.data.feature_cache` output.
    progress : bool
        Print each epoch's history entry as JSON.
    jobs : int
        With ``inner_folds`` > 1: members trained at the same time, each in its own
        process with one torch thread (same results; the wall-clock cap ``max_minutes``
        applies per member).
    **hyper
        Any :class:`~.config.TrainConfig` field (``widths``, ``max_epochs``, ``frontend``...).

    Returns
    -------
    Trained
    """
    cfg = TrainConfig(task=task, model=model, attention=attention, upsample=upsample, **hyper)
    recs = [r for r in train_records if recording_target(task, r) is not None]
    if cfg.inner_folds > 1:
        if val_records is not None:
            raise ParameterError("inner_folds > 1 makes its own validation folds; "
                                 "val_records cannot be given")
        if not recs:
            raise ParameterError(f"no training recordings with a {task!r} target")
        feats = features if features is not None else feature_cache(recs, cfg.frontend)
        return fit_crossfit(cfg, recs, feats, progress, jobs)
    if val_records is None:
        tr_i, va_i = split_val(recs, [patient_target(task, r) for r in recs],
                               cfg.val_fraction, cfg.seed)
        val = [recs[i] for i in va_i]
        recs = [recs[i] for i in tr_i]
    else:
        val = [r for r in val_records if patient_target(task, r) is not None]
    if not recs:
        raise ParameterError(f"no training recordings with a {task!r} target")
    feats = features if features is not None else feature_cache(list(recs) + list(val),
                                                                cfg.frontend)
    return fit_network(cfg, recs, val, feats, progress)
