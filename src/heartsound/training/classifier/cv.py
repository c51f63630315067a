"""Grouped, stratified k-fold cross-validation of the classifier recipes, and re-deciding
its patients with other rule tunings."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...classification.frontend import FrontendConfig
from ...classification.tasks import patient_target
from ...errors import ParameterError
from ..runtime import map_jobs
from .data import feature_cache, grouped_folds, record_key
from .rules import patient_decisions, task_score, tune_rules
from .trainer import train

__all__ = ["cross_validate", "retune_cv", "best_epochs"]

log = logging.getLogger(__name__)


def cross_validate(task: str, records: Sequence[Any], *, k: int = 5, seed: int = 0,
                   folds: Sequence[tuple[Sequence[int], Sequence[int]]] | None = None,
                   only: Sequence[int] | None = None, progress: bool = False, jobs: int = 1,
                   **train_kwargs: Any) -> list[dict[str, Any]]:
    """Grouped, stratified k-fold cross-validation; returns per-fold predictions.

    Parameters
    ----------
    task : str
    records : sequence of Record
        All records; records without a target are dropped. Folds group by
        ``record.group`` (CirCor: patient merged with ``Additional ID``).
    k : int
        Number of folds.
    seed : int
        Seed of the folds and of each fold's training.
    folds : sequence of (train_index, test_index), optional
        Explicit folds over the filtered records (e.g. leave-one-database-out).
    only : sequence of int, optional
        Run only these folds (0-based positions in the split, which is unchanged), e.g.
        one fold of a long run; default every fold.
    jobs : int
        Folds trained at the same time, each in its own process with one torch thread
        (the results do not depend on it; the wall-clock cap ``max_minutes`` does, if the
        processes outnumber free cores).
    **train_kwargs
        Passed to :func:`~.trainer.train` (``model``, ``attention``, ``upsample``,
        ``widths``...).

    Returns
    -------
    list of dict
        Per fold: ``fold``, ``test_ids``, ``probs`` ([n_test, n_classes], recording level),
        ``rules``, ``patient_ids``, ``truth``, ``pred`` (patient level), ``score``,
        ``epochs``, ``best_epoch`` (a list, one per member, for ``inner_folds`` > 1) and
        the inner validation recordings' ``val_ids`` and ``val_probs`` (what the fold's
        rules were tuned on; out-of-fold probabilities for ``inner_folds`` > 1).
    """
    recs = [r for r in records if patient_target(task, r) is not None]
    if folds is None:
        folds = grouped_folds(task, recs, k, seed)
    bad = sorted(set(only or ()) - set(range(len(folds))))
    if bad:
        raise ParameterError(f"folds {bad} do not exist: the split has folds "
                             f"0..{len(folds) - 1}")
    feats = feature_cache(recs, train_kwargs.get("frontend", FrontendConfig()))
    fold_args = [(task, f, [recs[i] for i in tr], [recs[i] for i in te], feats, seed,
                  progress, train_kwargs) for f, (tr, te) in enumerate(folds)
                 if only is None or f in only]
    return map_jobs(_cv_fold, fold_args, jobs)


def best_epochs(history: Sequence[dict[str, Any]]) -> int | list[int] | None:
    """0-based best epoch of a training history; one per member for an ensemble."""
    if not history:
        return None
    best = [int(np.argmax([h["val_score"] for h in history if h.get("member", 0) == k]))
            for k in sorted({h.get("member", 0) for h in history})]
    return best if "member" in history[0] else best[0]


def _cv_fold(task: str, f: int, tr_recs: list[Any], te_recs: list[Any],
             feats: dict[str, np.ndarray], seed: int, progress: bool,
             train_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Train on ``tr_recs`` and score ``te_recs``: one fold of :func:`cross_validate`."""
    m = train(task=task, train_records=tr_recs, features=feats, progress=progress,
              seed=seed, **train_kwargs)
    probs = m.predict(te_recs, feats)
    ids, truth, pred = patient_decisions(task, te_recs, probs, m.rules)
    by_key = {record_key(r): r for r in tr_recs}
    val_recs = [by_key[v] for v in m.val_ids if v in by_key]
    if m.val_probs is not None:
        val_probs = m.val_probs
    else:
        val_probs = m.predict(val_recs, feats) if val_recs else np.zeros((0, 0))
    res = {"fold": f, "test_ids": [record_key(r) for r in te_recs], "probs": probs,
           "rules": m.rules, "patient_ids": ids, "truth": truth, "pred": pred,
           "score": task_score(task, truth, pred), "epochs": len(m.history),
           "best_epoch": best_epochs(m.history),
           "val_ids": [record_key(r) for r in val_recs], "val_probs": val_probs}
    log.info("fold %d score %.4f", f, res["score"])
    if progress:
        print(json.dumps({k2: v for k2, v in res.items()
                          if k2 in ("fold", "score", "rules", "epochs")}), flush=True)
    return res


def retune_cv(task: str, records: Sequence[Any], folds: Sequence[dict[str, Any]],
              method: str = "bagged") -> list[dict[str, Any]]:
    """Re-decide the patients of :func:`cross_validate` output with rules tuned by
    ``method`` on each fold's stored inner-validation probabilities (``val_ids``,
    ``val_probs``); the fold models and their test probabilities are unchanged and no test
    patient is used for tuning. Returns copies of ``folds`` with new ``rules``, ``pred``
    and ``score``."""
    by_key = {record_key(r): r for r in records}
    out = []
    for f in folds:
        val = [by_key[k] for k in f["val_ids"]]
        te = [by_key[k] for k in f["test_ids"]]
        rules = tune_rules(task, val, np.asarray(f["val_probs"]), method)
        ids, truth, pred = patient_decisions(task, te, np.asarray(f["probs"]), rules)
        g = dict(f)
        g.update(rules=rules, patient_ids=ids, truth=truth, pred=pred,
                 score=task_score(task, truth, pred))
        out.append(g)
    return out
