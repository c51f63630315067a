"""Grouped splits: no patient on both sides, label proportions kept."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from heartsound.datasets import circor2022, physionet2016
from heartsound.datasets.splits import (
    check_grouped,
    grouped_stratified_kfold,
    leave_one_group_out,
)
from heartsound.errors import ParameterError


@pytest.fixture(scope="module")
def circor(circor_root):
    return circor2022.read(circor_root)


@pytest.mark.corpus
def test_circor_folds_keep_patients_and_additional_ids_together(circor, circor_root):
    folds = grouped_stratified_kfold(circor, n_splits=5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(circor)))  # a partition
    for train, test in folds:
        assert len(np.intersect1d(train, test)) == 0
        assert len(train) + len(test) == len(circor)
    check_grouped(folds, [r.group for r in circor])
    # patient ids (not only merged groups) never cross, including Additional ID pairs
    fold_of_patient: dict[str, set[int]] = {}
    for k, (_, test) in enumerate(folds):
        for i in test:
            fold_of_patient.setdefault(circor[i].labels["patient_id"], set()).add(k)
    assert all(len(v) == 1 for v in fold_of_patient.values())
    with (circor_root / "training_data.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    pairs = [(r["Patient ID"], r["Additional ID"]) for r in rows
             if r["Additional ID"] in fold_of_patient]
    assert len(pairs) == 60
    for a, b in pairs:
        assert fold_of_patient[a] == fold_of_patient[b]


@pytest.mark.corpus
def test_circor_folds_are_stratified(circor):
    folds = grouped_stratified_kfold(circor, n_splits=5, seed=0)
    overall = Counter(r.label for r in circor)
    for _, test in folds:
        counts = Counter(circor[i].label for i in test)
        assert 0.15 * len(circor) < len(test) < 0.25 * len(circor)
        for label, n in overall.items():
            share, expected = counts[label] / len(test), n / len(circor)
            assert abs(share - expected) < 0.03, (label, share, expected)


@pytest.mark.corpus
def test_folds_reproducible_and_seeded(circor):
    a = grouped_stratified_kfold(circor, n_splits=5, seed=0)
    b = grouped_stratified_kfold(circor, n_splits=5, seed=0)
    c = grouped_stratified_kfold(circor, n_splits=5, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_kfold_with_plain_arrays(rng):
    groups = np.repeat(np.arange(40), 3)  # 40 patients, 3 recordings each
    labels = np.repeat(rng.integers(0, 2, 40), 3)
    folds = grouped_stratified_kfold(range(len(groups)), labels, groups, n_splits=4, seed=3)
    check_grouped(folds, groups)
    for _, test in folds:
        assert len(test) % 3 == 0 and 0 < labels[test].mean() < 1


def test_kfold_bad_input():
    with pytest.raises(ParameterError, match="labels are required"):
        grouped_stratified_kfold(range(4))
    with pytest.raises(ParameterError, match="4 items but 3 labels"):
        grouped_stratified_kfold(range(4), "aab", "wxyz")
    with pytest.raises(ParameterError, match=r"from 2 to the number of groups \(2\)"):
        grouped_stratified_kfold(range(4), "abab", "xxyy", n_splits=3)
    with pytest.raises(ParameterError, match="n_splits"):
        grouped_stratified_kfold(range(4), "abab", "wxyz", n_splits=1)


def test_check_grouped_detects_leaks():
    groups = ["p1", "p1", "p2", "p2"]
    with pytest.raises(ParameterError, match="'p1' is in train and test"):
        check_grouped([(np.array([0, 2, 3]), np.array([1]))], groups)
    with pytest.raises(ParameterError, match="tested in folds 0 and 1"):
        check_grouped([(np.array([2, 3]), np.array([0, 1])),
                       (np.array([2, 3]), np.array([0, 1]))], groups)


@pytest.mark.corpus
def test_leave_one_database_out(physionet_root):
    records = physionet2016.read(physionet_root)
    splits = leave_one_group_out(records)
    assert list(splits) == list("abcdef")
    sizes = {k: len(test) for k, (_, test) in splits.items()}
    assert sizes == {"a": 409, "b": 490, "c": 31, "d": 55, "e": 683, "f": 114}
    for name, (train, test) in splits.items():
        assert {records[i].labels["database"] for i in test} == {name}
        assert name not in {records[i].labels["database"] for i in train}
        assert len(train) + len(test) == 1782
    check_grouped(list(splits.values()), [r.labels["database"] for r in records])


def test_leave_one_group_out_bad_input():
    with pytest.raises(ParameterError, match="at least 2 groups"):
        leave_one_group_out(range(3), ["a", "a", "a"])
    with pytest.raises(ParameterError, match="groups are required"):
        leave_one_group_out(range(3))
    assert list(leave_one_group_out(range(3), [2, 1, 2])) == ["1", "2"]


@pytest.mark.corpus
def test_circor_folds_grouped_and_reproducible(circor_root):
    from heartsound.datasets.splits import circor_folds
    from heartsound.evaluation import segmentation

    assert segmentation.circor_folds is circor_folds  # re-exported, one definition
    records = circor2022.read(circor_root)
    folds = circor_folds(records, k=5, seed=0)
    assert len(folds) == 5
    test_all = np.sort(np.concatenate([te for _, te in folds]))
    annotated = [i for i, r in enumerate(records) if r.annotation_path is not None]
    assert test_all.tolist() == annotated
    for tr, te in folds:
        assert not {records[i].group for i in tr} & {records[i].group for i in te}
        assert set(tr.tolist()) | set(te.tolist()) == set(annotated)
    again = circor_folds(records, k=5, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))


def test_circor_folds_without_annotations_raise():
    from heartsound.datasets.base import Record
    from heartsound.datasets.splits import circor_folds
    from heartsound.errors import DatasetError

    recs = [Record(id=f"{i}_AV", corpus="circor2022", audio_path=f"{i}_AV.flac", group=str(i))
            for i in range(4)]
    with pytest.raises(DatasetError, match="annotation"):
        circor_folds(recs)

