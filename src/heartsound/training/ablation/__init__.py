"""Ablation of the attention classifiers of Ren et al. 2022 on heartsound's tasks.

Ren, Qian, Dong, Koike, Schuller, Yamamoto, "Deep attention-based neural networks for
explainable heart sound classification", Machine Learning with Applications 9 (2022)
100322, compare CNN / LSTM / GRU bodies, attention pooling against none, sigmoid against
softmax rectification of the attention branch, and random up-sampling of minority
classes. This module runs that comparison with the training code of
:mod:`heartsound.training.classifier` (:func:`~heartsound.training.classifier.cross_validate`,
the same grouped stratified folds, seed and feature cache as the shipped CV) and reports,
per configuration, per patient (CirCor) or per recording (PhysioNet 2016):

* UAR: mean (and SD) over the folds and pooled over all test decisions;
* per-class recall and the pooled confusion matrix (rows true, columns predicted);
* one-vs-rest ROC AUC per class and their mean (macro), from the patient-level probability
  vector of :func:`~heartsound.classification.tasks.aggregate_patient`;
* figures: per configuration the one-vs-rest ROC curves and the confusion matrix.

Modules: :mod:`.run` (configurations, cross-validation, resumable JSON), :mod:`.scoring`
(per-patient scores, paired bootstrap), :mod:`.report` (Markdown and figures) and
:mod:`.cli`.

Run (one training process; torch uses one thread)::

    python -m heartsound.training.ablation --task severity \\
        --root ../shared/data/circor2022 --out docs/results/ablation.json

The JSON is rewritten after every configuration and a rerun skips the configurations it
already holds, so an interrupted run resumes. ``--render`` only redraws the Markdown and
figures from existing JSON files.
"""

from __future__ import annotations

from .cli import build_parser, main
from .report import plot_config, plot_overview, render
from .run import CONFIGS, DESIGNS, read_records, run
from .scoring import paired_bootstrap, patient_table, summarize

__all__ = ["CONFIGS", "DESIGNS", "run", "read_records", "summarize", "patient_table",
           "paired_bootstrap", "render", "plot_config", "plot_overview", "build_parser",
           "main"]
