"""Continuing the training of a trained classifier network on a few labelled recordings
of a new site (site adaptation by fine-tuning), with replay of source recordings."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...classification.tasks import LABELS, recording_target
from ...errors import ParameterError
from ..runtime import import_torch
from .config import TrainConfig
from .data import balanced_indices
from .loop import _Objective, _run_epoch

__all__ = ["finetune"]


def finetune(net: Any, config: TrainConfig, records: Sequence[Any],
             features: dict[str, np.ndarray], *, replay: Sequence[Any] = (),
             epochs: int = 10, lr: float | None = None,
             trainable: Sequence[str] | None = None, seed: int = 0) -> Any:
    """A copy of ``net`` trained further, for a fixed number of epochs, on ``records``.

    Each epoch draws ``2 * len(records)`` recordings (with replacement) so that every
    (site, class) cell weighs the same: the target ``records`` and, when given, the
    ``replay`` recordings (e.g. the source training set, against forgetting) are the two
    sites, and within each the classes are balanced (so the loss is unweighted and the
    fine-tuned arg-max decision aims at the balanced accuracy). Crops, the training
    augmentation and the batch size are those of ``config``. No early stopping: there is
    no validation data beyond ``records``.

    Parameters
    ----------
    net : torch.nn.Module
        A trained network of :func:`~.models.build_model` for ``config`` (not modified).
    config : TrainConfig
        Its training configuration (``lr``, ``weight_decay``, ``batch_size``,
        ``crops_per_recording``, ``augment``, ``device_augment``, ``frontend``).
    records : sequence of Record
        Labelled target recordings (those without a ``config.task`` target are skipped).
    features : dict
        :func:`~.data.feature_cache` output covering ``records`` and ``replay``.
    replay : sequence of Record, optional
        Source recordings mixed into every epoch with the same total weight.
    epochs : int
        Number of epochs (of ``2 * len(records)`` draws).
    lr : float, optional
        Adam learning rate; default ``config.lr / 10``.
    trainable : sequence of str, optional
        Prefixes of the parameter names to train (e.g. ``("rnns.2", "head")``); the
        others are frozen. Default: every parameter.
    seed : int
        Seed of the draws, crops, augmentation and dropout.

    Returns
    -------
    torch.nn.Module
        The fine-tuned copy, in eval mode.

    Raises
    ------
    ParameterError
        No target recording with a target, fewer than two classes among them, no
        parameter matching ``trainable``, or ``epochs`` < 1.
    """
    torch = import_torch()
    labels = LABELS[config.task]
    tgt = [r for r in records if recording_target(config.task, r) is not None]
    src = [r for r in replay if recording_target(config.task, r) is not None]
    y = np.array([labels.index(recording_target(config.task, r)) for r in tgt + src], int)
    if len(set(y[:len(tgt)].tolist())) < 2 or epochs < 1:
        raise ParameterError(f"fine-tuning needs target recordings of at least two "
                             f"{config.task} classes and epochs >= 1; got classes "
                             f"{sorted(set(y[:len(tgt)].tolist()))}, epochs {epochs}")
    out = copy.deepcopy(net)
    names = [n for n, _ in out.named_parameters()]
    keep = [n for n in names if trainable is None or n.startswith(tuple(trainable))]
    if not keep:
        raise ParameterError(f"no parameter of the network starts with {list(trainable or ())}; "
                             f"names: {names}")
    for n, p in out.named_parameters():
        p.requires_grad_(n in keep)
    for m in out.modules():  # frozen batch norms keep their running statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in m.parameters()):
            m.momentum = 0.0
    # the drawn epoch is already balanced: an unweighted loss (the objective of an
    # up-sampled configuration) over every drawn recording in turn (a plain one)
    plain = dataclasses.replace(config, upsample=False, balance=None, domain_adversarial=0.0)
    objective = _Objective(dataclasses.replace(plain, upsample=True), out, tgt, y[:len(tgt)])
    opt = torch.optim.Adam([p for p in out.parameters() if p.requires_grad],
                           lr=config.lr / 10 if lr is None else lr,
                           weight_decay=config.weight_decay)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    pool = tgt + src
    sites = ["target"] * len(tgt) + ["replay"] * len(src)
    for epoch in range(epochs):
        idx = balanced_indices(sites, y, 2 * len(tgt), rng)
        _run_epoch(plain, objective, opt, [pool[i] for i in idx], y[idx], features, epoch, rng)
    out.eval()
    return out
