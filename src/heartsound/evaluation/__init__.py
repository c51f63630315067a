"""Scoring heartsound's outputs against references, one path per task.

* :mod:`.metrics`: event matching (S1/S2 within a tolerance), F1, and the
  classification metrics of the challenges (UAR, MAcc, the murmur weighted accuracy).
* :mod:`.segmentation`: S1/S2 detection on annotated corpora (CirCor, PASCAL), folds.
* :mod:`.classification`: the shipped classifiers on labelled corpora, per patient.

Used by the ``heartsound evaluate`` commands, the training code, the scripts and the
tests. Nothing heavy is imported until a function is called.
"""
