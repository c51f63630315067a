"""Scoring heartsound's outputs against references, one path per task.

* :mod:`.metrics`: event matching (S1/S2 within a tolerance, :mod:`.detection`), F1,
  and the classification metrics of the challenges (UAR, MAcc, the murmur weighted
  accuracy), on scikit-learn.
* :mod:`.segmentation`: S1/S2 detection on annotated corpora (CirCor, PASCAL), folds.
* :mod:`.classification`: the shipped classifiers on labelled corpora, per patient;
  leave-one-database-out folds and cross-validation summaries.
* :mod:`.quality`: how often the signal-quality check flags each corpus.

Used by the ``heartsound evaluate`` and ``heartsound quality`` commands, the training
code, the scripts and the tests. This file holds only the names the command line offers
as choices, so that ``heartsound --help`` does not import scikit-learn.
"""

__all__ = ["SEGMENTATION_DATASETS", "EVENT_TIMES"]

#: Corpora with S1/S2 annotations that :func:`.segmentation.evaluate` scores on.
SEGMENTATION_DATASETS: tuple[str, ...] = ("circor2022", "pascal2011")
#: The instant of an estimated sound compared with the reference: the centre of the
#: decoded segment (CirCor's convention) or its envelope peak (PASCAL's).
EVENT_TIMES: tuple[str, ...] = ("centre", "peak")
