"""Grouped cross-validation splits: no patient (group) is ever on both sides.

CirCor records carry ``group`` = the patient id merged with its ``Additional ID``, so
splitting by ``Record.group`` keeps both visits of one child together. PhysioNet 2016
databases (``training-a`` ... ``f``) come from different hospitals and devices; the
honest way to measure generalisation across them is :func:`leave_one_group_out` over
``labels["database"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sklearn.model_selection import StratifiedGroupKFold

from ..errors import DatasetError, ParameterError
from .base import Record

__all__ = ["grouped_stratified_kfold", "leave_one_group_out", "check_grouped", "circor_folds"]

Split = tuple[np.ndarray, np.ndarray]


def _labels_groups(items: Sequence[Any], labels: Sequence[Any] | None,
                   groups: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    n = len(items)
    records = n > 0 and all(isinstance(r, Record) for r in items)
    if labels is None:
        if not records:
            raise ParameterError("labels are required unless items are Records")
        labels = [r.label for r in items]
    if groups is None:
        if not records:
            raise ParameterError("groups are required unless items are Records")
        groups = [r.group for r in items]
    y = np.asarray([str(v) for v in labels])
    g = np.asarray([str(v) for v in groups])
    if len(y) != n or len(g) != n:
        raise ParameterError(f"{n} items but {len(y)} labels and {len(g)} groups")
    return y, g


def grouped_stratified_kfold(items: Sequence[Any], labels: Sequence[Any] | None = None,
                             groups: Sequence[Any] | None = None, *, n_splits: int = 5,
                             seed: int = 0) -> list[Split]:
    """K folds that keep every group in one fold and roughly preserve label proportions.

    Uses scikit-learn's ``StratifiedGroupKFold`` (shuffled with ``seed``).

    Parameters
    ----------
    items : sequence
        Records (then ``labels`` and ``groups`` default to ``Record.label`` and
        ``Record.group``) or any sequence of ``n`` items with ``labels`` and ``groups``.
    labels : sequence [shape=(n,)], optional
        Class of each item (compared as strings; None is a class of its own).
    groups : sequence [shape=(n,)], optional
        Group (patient) of each item.
    n_splits : int
        Number of folds, at least 2 and at most the number of groups.
    seed : int
        Seed of the shuffle; the same seed gives the same folds.

    Returns
    -------
    list of (train_idx, test_idx)
        ``n_splits`` pairs of sorted int arrays; the test sets partition ``range(n)``.

    Raises
    ------
    ParameterError
        Missing labels/groups, mismatched lengths, or ``n_splits`` out of range.

    Examples
    --------
    >>> folds = grouped_stratified_kfold(range(8), labels="aabbaabb",
    ...                                  groups=[0, 0, 1, 1, 2, 2, 3, 3], n_splits=2)
    >>> check_grouped(folds, [0, 0, 1, 1, 2, 2, 3, 3])
    """
    y, g = _labels_groups(items, labels, groups)
    n_groups = len(np.unique(g))
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2 or n_splits > n_groups:
        raise ParameterError(f"n_splits must be an integer from 2 to the number of groups "
                             f"({n_groups}), got {n_splits!r}")
    cv = StratifiedGroupKFold(n_splits=int(n_splits), shuffle=True, random_state=seed)
    return [(np.sort(train), np.sort(test))
            for train, test in cv.split(np.zeros(len(y)), y, g)]


def leave_one_group_out(items: Sequence[Any], groups: Sequence[Any] | None = None, *,
                        key: str = "database") -> dict[str, Split]:
    """One split per group: train on all other groups, test on this one.

    Parameters
    ----------
    items : sequence
        Records (then ``groups`` defaults to ``Record.labels[key]``, e.g. the PhysioNet
        2016 database letter) or any sequence with ``groups`` given.
    groups : sequence [shape=(n,)], optional
        Group of each item.
    key : str
        Entry of ``Record.labels`` used when ``groups`` is None.

    Returns
    -------
    dict
        Group name (sorted) -> ``(train_idx, test_idx)``, sorted int arrays.

    Raises
    ------
    ParameterError
        Fewer than two groups, a Record without ``labels[key]``, or mismatched lengths.
    """
    if groups is None:
        if not all(isinstance(r, Record) for r in items):
            raise ParameterError("groups are required unless items are Records")
        missing = [r.id for r in items if r.labels.get(key) is None]
        if missing:
            raise ParameterError(f"records without labels[{key!r}]: {', '.join(missing[:5])}")
        groups = [r.labels[key] for r in items]
    g = np.asarray([str(v) for v in groups])
    if len(g) != len(items):
        raise ParameterError(f"{len(items)} items but {len(g)} groups")
    names = [str(v) for v in sorted(np.unique(g).tolist())]
    if len(names) < 2:
        raise ParameterError(f"leave-one-group-out needs at least 2 groups, got {names}")
    index = np.arange(len(g))
    return {name: (index[g != name], index[g == name]) for name in names}


def circor_folds(records: Sequence[Record], k: int = 5, seed: int = 0) -> list[Split]:
    """Patient-independent folds of the annotated CirCor recordings.

    The one fold assignment every segmenter is measured with. Only records with a
    segmentation (``annotation_path`` not None) take part. Folds come from
    :func:`grouped_stratified_kfold` with ``groups = Record.group`` (patient merged with
    its ``Additional ID``, so one child is never on both sides) and
    ``labels = Record.label`` (murmur), ``n_splits = k``, ``seed``. The same corpus, ``k``
    and ``seed`` always give the same folds.

    Parameters
    ----------
    records : sequence of Record
        :func:`heartsound.datasets.circor2022.read` output (any order; indices refer to it).
    k : int
        Number of folds.
    seed : int
        Shuffle seed (0 for every published figure).

    Returns
    -------
    list of (train_idx, test_idx)
        ``k`` pairs of sorted index arrays into ``records``; the test sets partition the
        annotated records.

    Raises
    ------
    DatasetError
        No record has a segmentation annotation.
    """
    annotated = np.array([i for i, r in enumerate(records) if r.annotation_path is not None])
    if annotated.size == 0:
        raise DatasetError("no CirCor record has a segmentation annotation")
    sub = [records[i] for i in annotated]
    folds = grouped_stratified_kfold(sub, [r.label for r in sub], [r.group for r in sub],
                                     n_splits=k, seed=seed)
    return [(annotated[tr], annotated[te]) for tr, te in folds]


def check_grouped(splits: Sequence[Split], groups: Sequence[Any]) -> None:
    """Raise if any group has items on both sides of a split, or in two test folds.

    Raises
    ------
    ParameterError
        Naming the first group that crosses.
    """
    g = np.asarray([str(v) for v in groups], dtype=object)
    seen: dict[str, int] = {}
    for k, (train, test) in enumerate(splits):
        overlap = set(g[train]) & set(g[test])
        if overlap:
            raise ParameterError(f"fold {k}: group {sorted(overlap)[0]!r} is in train and test")
        for name in set(g[test]):
            if name in seen:
                raise ParameterError(f"group {name!r} is tested in folds {seen[name]} and {k}")
            seen[name] = k
