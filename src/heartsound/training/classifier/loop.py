"""Training one classifier network: the epoch loop, inner-validation scoring, early
stopping and the aggregation rules tuned on the inner validation recordings."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...classification.crops import crops
from ...classification.tasks import DEFAULT_RULES, LABELS, recording_target
from ...evaluation import metrics
from ...evaluation.classification import binary_auc
from ...errors import ParameterError
from ..runtime import import_torch
from .config import TrainConfig
from .data import (augment, balanced_indices, database, feature_cache, random_crop,
                   record_key)
from .models import build_model, feature_dim, gradient_reversal
from .rules import tune_rules

__all__ = ["Trained", "fit_network", "predict_records", "macro_auc"]

log = logging.getLogger(__name__)


@dataclass
class Trained:
    """A trained model with what is needed to export and evaluate it."""

    model: Any
    config: TrainConfig
    rules: dict[str, float]
    history: list[dict[str, float]]
    val_ids: list[str]
    #: Probabilities of ``val_ids`` by the network(s) that did not train on them (set for
    #: cross-fitted ensembles, whose full-ensemble predictions of them would be in-sample).
    val_probs: np.ndarray | None = None

    def predict(self, records: Sequence[Any], features: dict[str, np.ndarray] | None = None
                ) -> np.ndarray:
        """Recording-level class probabilities ``[n_records, n_classes]``."""
        return predict_records(self.model, records, self.config, features)


def predict_records(model: Any, records: Sequence[Any], config: TrainConfig,
                    features: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Recording-level probabilities ``[n_records, n_classes]``: the mean of the crop
    log-probabilities over all crops of each recording (the same pooling as inference),
    softmax-renormalised."""
    torch = import_torch()
    feats = features if features is not None else feature_cache(records, config.frontend)
    model.eval()
    out = []
    with torch.no_grad():
        for r in records:
            batch, _ = crops(feats[record_key(r)], config.frontend)
            lp, _ = model(torch.from_numpy(batch))
            m = lp.numpy().mean(axis=0)
            e = np.exp(m - m.max())
            out.append(e / e.sum())
    return np.array(out)


def macro_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest ROC AUC over the classes present (and absent somewhere); 0 when
    no class qualifies."""
    aucs = [binary_auc(y_true == k, probs[:, k]) for k in range(probs.shape[1])]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else 0.0


class _Objective:
    """Loss of a batch: class-weighted (or plain, with re-sampling) NLL, plus the
    database cross-entropy through a gradient-reversal layer when
    ``domain_adversarial`` > 0."""

    def __init__(self, cfg: TrainConfig, net: Any, recs: Sequence[Any], y: np.ndarray) -> None:
        torch = import_torch()
        self.torch, self.cfg, self.net = torch, cfg, net
        counts = np.bincount(y, minlength=len(LABELS[cfg.task])).astype(float)
        weight = None
        if not cfg.upsample and cfg.balance is None:
            weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(counts),
                                  dtype=torch.float32)
        self.nll = torch.nn.NLLLoss(weight=weight)
        self.params = list(net.parameters())
        self.dom_head = None
        if cfg.domain_adversarial > 0:
            names = sorted({database(r) for r in recs})
            if len(names) < 2:
                raise ParameterError("domain_adversarial needs training recordings from at "
                                     f"least two databases, got {names}")
            self.dom = np.array([names.index(database(r)) for r in recs])
            self.dom_head = torch.nn.Linear(feature_dim(cfg), len(names))
            self.params += list(self.dom_head.parameters())
            self.dom_loss = torch.nn.CrossEntropyLoss()

    def __call__(self, xb: np.ndarray, yb: np.ndarray, bi: np.ndarray, epoch: int) -> Any:
        torch = self.torch
        if self.dom_head is None:
            lp, _ = self.net(torch.from_numpy(xb))
            return self.nll(lp, torch.from_numpy(yb))
        lp, _, h = self.net.features(torch.from_numpy(xb))
        ramp = 2.0 / (1.0 + np.exp(-10.0 * epoch / self.cfg.max_epochs)) - 1.0
        d_logits = self.dom_head(gradient_reversal(h, self.cfg.domain_adversarial * ramp))
        return self.nll(lp, torch.from_numpy(yb)) + self.dom_loss(
            d_logits, torch.from_numpy(self.dom[bi]))


def _epoch_indices(cfg: TrainConfig, recs: Sequence[Any], y: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """The recordings of one epoch, each repeated ``crops_per_recording`` times, shuffled:
    all of them, database-balanced draws, or minority classes up-sampled to the largest."""
    idx = np.arange(len(recs))
    if cfg.balance == "database":
        idx = balanced_indices([database(r) for r in recs], y, len(recs), rng)
    elif cfg.upsample:
        counts = np.bincount(y, minlength=len(LABELS[cfg.task]))
        parts = []
        for k in range(len(counts)):
            ik = idx[y == k]
            if len(ik):
                parts.append(np.concatenate([ik, rng.choice(ik, int(counts.max()) - len(ik))]))
        idx = np.concatenate(parts)
    idx = np.repeat(idx, cfg.crops_per_recording)
    rng.shuffle(idx)
    return idx


def _run_epoch(cfg: TrainConfig, objective: _Objective, opt: Any, recs: Sequence[Any],
               y: np.ndarray, feats: dict[str, np.ndarray], epoch: int,
               rng: np.random.Generator) -> tuple[float, int]:
    """One pass over :func:`_epoch_indices` in batches; returns the summed loss over the
    crops and the number of crops."""
    objective.net.train()
    idx = _epoch_indices(cfg, recs, y, rng)
    tot = 0.0
    for s in range(0, len(idx), cfg.batch_size):
        bi = idx[s:s + cfg.batch_size]
        xb = np.stack([random_crop(feats[record_key(recs[i])], cfg.frontend.crop_frames, rng)
                       for i in bi])
        if cfg.augment:
            xb = augment(xb, rng, cfg.frontend.n_mels, cfg.device_augment)
        loss = objective(xb, y[bi], bi, epoch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += float(loss.detach()) * len(bi)
    return tot, len(idx)


def _val_score(cfg: TrainConfig, net: Any, val: Sequence[Any], yv: np.ndarray,
               feats: dict[str, np.ndarray], total_loss: float) -> float:
    """Early-stopping score on the validation recordings (higher is better): recording
    UAR of the arg-max decisions or macro AUC; without any, minus the epoch's summed
    training loss."""
    if not len(val):
        return -float(total_loss)
    pv = predict_records(net, val, cfg, feats)
    if cfg.early_stop == "auc":
        return macro_auc(yv, pv)
    return float(metrics.uar(yv, pv.argmax(1), range(len(LABELS[cfg.task]))))


def fit_network(cfg: TrainConfig, recs: Sequence[Any], val: Sequence[Any],
                feats: dict[str, np.ndarray], progress: bool = False) -> Trained:
    """Train one network on ``recs``, early-stopped on ``val``, and tune its rules on ``val``.

    Parameters
    ----------
    cfg : TrainConfig
    recs : sequence of Record
        Training recordings, each with a recording target for ``cfg.task``.
    val : sequence of Record
        Inner validation recordings (with a patient target; may be empty).
    feats : dict
        :func:`~.data.feature_cache` output covering ``recs`` and ``val``.
    progress : bool
        Print each epoch's history entry as JSON.

    Returns
    -------
    Trained
        The best epoch's weights (by the ``early_stop`` score).
    """
    torch = import_torch()
    labels = LABELS[cfg.task]
    y = np.array([labels.index(recording_target(cfg.task, r)) for r in recs])
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg)
    objective = _Objective(cfg, net, recs, y)
    opt = torch.optim.Adam(objective.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_rec = [r for r in val if recording_target(cfg.task, r) is not None]
    yv = np.array([labels.index(recording_target(cfg.task, r)) for r in val_rec])
    best, best_state, bad, history = -1.0, None, 0, []
    t0 = time.time()
    for epoch in range(cfg.max_epochs):
        total, n_crops = _run_epoch(cfg, objective, opt, recs, y, feats, epoch, rng)
        loss = total / n_crops
        score = _val_score(cfg, net, val_rec, yv, feats, total)
        history.append({"epoch": epoch, "loss": loss, "val_score": score,
                        "val_metric": cfg.early_stop, "seconds": time.time() - t0})
        log.info("epoch %d loss %.4f val %s %.4f (%.0f s)", epoch, loss,
                 cfg.early_stop.upper(), score, time.time() - t0)
        if progress:
            print(json.dumps(history[-1]), flush=True)
        if score > best:
            best, bad = score, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
        if bad >= cfg.patience or (time.time() - t0) / 60 > cfg.max_minutes:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    rules = dict(DEFAULT_RULES[cfg.task])
    if val:
        rules = tune_rules(cfg.task, val, predict_records(net, val, cfg, feats),
                           cfg.rule_tuning, seed=cfg.seed)
    return Trained(model=net, config=cfg, rules=rules, history=history,
                   val_ids=[record_key(r) for r in val])
