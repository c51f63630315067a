"""Cross-fitting (``TrainConfig.inner_folds`` = K > 1): an ensemble of K networks whose
aggregation rules are tuned on out-of-fold probabilities of every training patient."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..runtime import map_jobs
from .config import TrainConfig
from .data import grouped_folds, record_key
from .loop import Trained, fit_network
from .models import build_model, ensemble_module
from .rules import tune_rules

__all__ = ["fit_crossfit"]

log = logging.getLogger(__name__)


def _train_member(cfg: TrainConfig, tr_recs: list[Any], val: list[Any],
                  feats: dict[str, np.ndarray], progress: bool
                  ) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray]:
    """One member: its weights (``state_dict``; the network classes are made at run
    time, so modules do not pickle across processes), history and probabilities on
    ``val``. ``val`` is the member's held-out inner fold."""
    m = fit_network(dataclasses.replace(cfg, inner_folds=1), tr_recs, val, feats, progress)
    return m.model.state_dict(), m.history, m.predict(val, feats)


def fit_crossfit(cfg: TrainConfig, recs: Sequence[Any], feats: dict[str, np.ndarray],
                 progress: bool = False, jobs: int = 1) -> Trained:
    """Train the ``cfg.inner_folds`` members and return their ensemble.

    Member k is trained on the patient-grouped, target-stratified inner folds other than k
    and early-stopped on fold k; the aggregation rules are tuned on the out-of-fold
    probabilities of every training patient (K times the patients of one
    ``val_fraction`` split), and the model is the members' ensemble
    (:func:`~.models.ensemble_module`).

    Parameters
    ----------
    cfg : TrainConfig
    recs : sequence of Record
        Training recordings, each with a recording target.
    feats : dict
        :func:`~.data.feature_cache` output covering ``recs``.
    jobs : int
        Members trained at the same time, each in its own process (same results).

    Returns
    -------
    Trained
        ``val_ids``/``val_probs``: every training recording and its out-of-fold
        probabilities; ``history`` entries carry their ``member``.
    """
    folds = grouped_folds(cfg.task, recs, cfg.inner_folds, cfg.seed)
    args = [(cfg, [recs[i] for i in tr], [recs[i] for i in va], feats, progress)
            for tr, va in folds]
    results = map_jobs(_train_member, args, jobs)
    members, history, oob_recs, oob_probs = [], [], [], []
    for k, ((state_k, hist_k, probs_k), a) in enumerate(zip(results, args)):
        net_k = build_model(cfg)
        net_k.load_state_dict(state_k)
        members.append(net_k.eval())
        history += [dict(h, member=k) for h in hist_k]
        oob_recs += a[2]
        oob_probs.append(probs_k)
        log.info("member %d/%d: %d epochs, best inner score %.4f", k + 1, len(folds),
                 len(hist_k), max((h["val_score"] for h in hist_k), default=float("nan")))
    probs = np.concatenate(oob_probs)
    rules = tune_rules(cfg.task, oob_recs, probs, cfg.rule_tuning, seed=cfg.seed)
    net = ensemble_module(members).eval()
    return Trained(model=net, config=cfg, rules=rules, history=history,
                   val_ids=[record_key(r) for r in oob_recs], val_probs=probs)
