"""Training one segmenter network: masked cross-entropy on random windows, cosine
learning-rate schedule, early stopping on the inner-validation patients' clean
recordings."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ParameterError
from ...vocab import FRAME_RATE, N_STATES
from ..runtime import import_torch
from .config import TrainConfig
from .data import FeatureCache, sample_windows, sound_durations, state_priors
from .model import SegmenterNet, time_multiple

__all__ = ["Trained", "train"]

log = logging.getLogger(__name__)


@dataclass
class Trained:
    """A trained network with its configuration and training history."""

    model: Any
    config: TrainConfig
    n_features: int
    history: list[dict[str, float]]
    n_train_records: int
    n_val_records: int
    train_ids: list[str]
    state_priors: list[float]
    sound_durations: dict[str, list[float]]


def _split_val(groups: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the inner-validation records: whole groups (patients)."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed + 7919)
    rng.shuffle(uniq)
    val = set(uniq[: int(round(fraction * len(uniq)))])
    return np.array([g in val for g in groups])


def _evaluate(model: Any, cache: FeatureCache, idx: np.ndarray, mult: int
              ) -> tuple[float, float]:
    """Masked cross-entropy and frame accuracy on the clean versions of ``idx``."""
    torch = import_torch()
    model.eval()
    tot_loss, tot_ok, tot_n = 0.0, 0, 0
    with torch.no_grad():
        for i in idx:
            f, lab = cache.feats[i][0], cache.labels[i][0].astype(np.int64) - 1
            keep = lab >= 0
            if not keep.any():
                continue
            m = mult - f.shape[0] % mult if f.shape[0] % mult else 0
            z = model(torch.from_numpy(np.pad(f, ((0, m), (0, 0)))[None]))[0, :f.shape[0]]
            t = torch.from_numpy(lab)
            k = torch.from_numpy(keep)
            tot_loss += float(torch.nn.functional.cross_entropy(z[k], t[k], reduction="sum"))
            tot_ok += int((z[k].argmax(-1) == t[k]).sum())
            tot_n += int(keep.sum())
    return tot_loss / max(tot_n, 1), tot_ok / max(tot_n, 1)


def _run_epoch(model: Any, opt: Any, cache: FeatureCache, fit_idx: np.ndarray, win: int,
               cfg: TrainConfig, rng: np.random.Generator) -> float:
    """``windows_per_epoch // batch_size`` optimiser steps; the mean batch loss."""
    torch = import_torch()
    model.train()
    losses = []
    for _ in range(max(1, cfg.windows_per_epoch // cfg.batch_size)):
        xb, yb = sample_windows(cache, fit_idx, cfg.batch_size, win, rng)
        z = model(torch.from_numpy(xb))
        loss = torch.nn.functional.cross_entropy(z.reshape(-1, N_STATES),
                                                 torch.from_numpy(yb).reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def _fit(model: Any, cache: FeatureCache, fit_idx: np.ndarray, val_idx: np.ndarray,
         cfg: TrainConfig, rng: np.random.Generator) -> list[dict[str, float]]:
    """The epoch loop; leaves ``model`` at its best epoch (lowest validation loss)."""
    torch = import_torch()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.max_epochs)
    mult = time_multiple(cfg.widths)
    win = int(round(cfg.window_s * FRAME_RATE / mult)) * mult
    best, best_state, bad = math.inf, None, 0
    history: list[dict[str, float]] = []
    t0 = time.time()
    for epoch in range(cfg.max_epochs):
        train_loss = _run_epoch(model, opt, cache, fit_idx, win, cfg, rng)
        sched.step()
        vl, va = _evaluate(model, cache, val_idx, mult) if val_idx.size else (math.nan, math.nan)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": vl,
                        "val_acc": va, "minutes": (time.time() - t0) / 60})
        log.info("epoch %d: train %.4f, val %.4f (acc %.4f), %.1f min", epoch + 1,
                 train_loss, vl, va, (time.time() - t0) / 60)
        if not val_idx.size or vl < best - 1e-4:
            best, bad = vl, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.patience:
                break
        if (time.time() - t0) / 60 > cfg.max_minutes:
            log.info("stopping: time budget of %.1f min reached", cfg.max_minutes)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def train(cache: FeatureCache, train_idx: Sequence[int], config: TrainConfig | None = None
          ) -> Trained:
    """Train one network on the records ``train_idx`` of ``cache``.

    A share ``config.val_fraction`` of the training patients (whole groups) is held out
    for early stopping on the masked cross-entropy of their clean recordings; the best
    epoch's weights are kept. The state priors and S1/S2 durations the decoder needs
    are measured on the clean labels of all of ``train_idx``.
    """
    torch = import_torch()
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train_idx = np.asarray(sorted(int(i) for i in train_idx))
    if train_idx.size == 0:
        raise ParameterError("no training records")
    is_val = _split_val([cache.groups[i] for i in train_idx], cfg.val_fraction, cfg.seed)
    fit_idx, val_idx = train_idx[~is_val], train_idx[is_val]
    n_feat = cache.feats[0][0].shape[1]
    model = SegmenterNet(n_feat, cfg.widths, cfg.dropout)
    log.info("training on %d recordings (%d inner-validation), %d parameters",
             fit_idx.size, val_idx.size, sum(p.numel() for p in model.parameters()))
    history = _fit(model, cache, fit_idx, val_idx, cfg, rng)
    return Trained(model, cfg, n_feat, history, int(fit_idx.size), int(val_idx.size),
                   [cache.ids[i] for i in train_idx], state_priors(cache, train_idx),
                   sound_durations([cache.labels[i][0] for i in train_idx]))
