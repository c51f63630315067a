"""Training the attention CNN / RNN heart-sound classifiers (PyTorch) and exporting them
to ONNX for :mod:`heartsound.classification`.

Implements Ren, Qian, Dong, Koike, Schuller, Yamamoto, "Deep attention-based neural networks
for explainable heart sound classification", Machine Learning with Applications 9 (2022)
100322, from the paper's description:

* CNN: four 3x3 conv layers (paper 64/128/256/256 channels; widths are a parameter), each
  with batch norm, ReLU and 2x2 max-pooling (``time_pool`` can keep more time resolution
  for the attention map, e.g. ``(2, 2, 1, 1)``), then *global attention pooling*: a 1x1 conv
  gives one map per class (branch A), a second 1x1 conv rectified by sigmoid or softmax and
  normalised to sum to one over time x frequency gives the attention (branch B); the sum
  of A * B over the map is the class vector; log-softmax; NLL loss.
* LSTM / GRU: stacked recurrent layers (paper 256/1024/256 units) over time with the same
  attention head as 1-D convolutions of kernel 1 over time. ``bidirectional=True`` runs
  each layer forwards and backwards in time (Schuster & Paliwal, "Bidirectional recurrent
  neural networks", IEEE Trans. Signal Process. 45(11), 1997) and concatenates the two
  states (2 x units features per frame), so the state at a frame, and the attention on it,
  can use the sound after that frame too (a forward-only RNN's attention lags the evidence).
* ``attention=None``: global average pooling of branch A (the paper's "no attention").
* Adam, batch 32, optional random up-sampling of minority classes, otherwise class-weighted
  NLL.

Modules, by concern: :mod:`.config` (:class:`TrainConfig`), :mod:`.models` (networks),
:mod:`.data` (feature cache, splits, crops, augmentation, sampling), :mod:`.loop` (one
network's training), :mod:`.crossfit` (ensembles), :mod:`.rules` (patient decisions and
threshold tuning), :mod:`.trainer` (:func:`train`), :mod:`.cv` (cross-validation),
:mod:`.export` (ONNX bundle), :mod:`.card` (model card) and :mod:`.finetune` (further
training on a new site's labelled recordings). torch is imported on first
use; only :mod:`heartsound.training` imports it.
"""

from __future__ import annotations

from . import card, config, crossfit, cv, data, export, finetune, loop, models, rules, trainer
from .card import model_card
from .config import ATTENTIONS, BALANCES, EARLY_STOPS, MODELS, RULE_TUNINGS, TrainConfig
from .cv import best_epochs, cross_validate, retune_cv
from .data import (augment, balanced_indices, database, feature_cache, grouped_folds,
                   record_key)
from .export import export_onnx
from .finetune import finetune as finetune_network
from .loop import Trained, macro_auc, predict_records
from .models import build_model, ensemble_module, feature_dim, gradient_reversal
from .rules import patient_decisions, task_score, tune_rules
from .trainer import train

# the names scripts and results notebooks used before the split into modules
_grouped_folds = grouped_folds
_database = database
_feature_dim = feature_dim
_augment = augment
_macro_auc = macro_auc
_best_epochs = best_epochs
_key = record_key

__all__ = ["TrainConfig", "Trained", "build_model", "feature_cache", "train",
           "predict_records", "cross_validate", "tune_rules", "export_onnx", "model_card",
           "MODELS", "ATTENTIONS", "BALANCES", "RULE_TUNINGS", "EARLY_STOPS", "retune_cv",
           "patient_decisions", "task_score", "balanced_indices", "database",
           "gradient_reversal", "ensemble_module", "feature_dim", "augment", "macro_auc",
           "best_epochs", "grouped_folds", "record_key", "finetune_network",
           "card", "config", "crossfit", "cv", "data", "export", "finetune", "loop", "models",
           "rules", "trainer"]
