"""Nested estimate of the selection of a recipe and its decision-rule tuning, from
cross-validation runs on the same folds (``heartsound train classifier --cv --json``).

Candidates: every run given x every rule tuning (``grid``, ``bagged``,
:func:`heartsound.training.classifier.retune_cv`: each fold's rules re-tuned on that
fold's inner-validation probabilities only). Plain CV reports the winner's mean fold
score, which carries its selection. The nested estimate chooses, for each outer fold i,
the candidate with the best mean score on the other folds, and scores that choice on
fold i; fold i's labels take no part in choosing what is scored on it. (The other folds'
models were trained on data that include fold i's recordings, but their scores are
measured on their own test folds.)

    python scripts/nested_selection.py --task abnormal docs/results/abnormal_cv_*.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.datasets import read
from heartsound.training.classifier import RULE_TUNINGS, retune_cv

_CORPORA = {"abnormal": ("physionet2016", "circor2022"), "murmur": ("circor2022",),
            "severity": ("circor2022",)}


def nested(scores: dict[str, np.ndarray]) -> dict[str, Any]:
    """``scores``: candidate -> per-fold scores [shape=(k,)]."""
    names = sorted(scores)
    m = np.array([scores[n] for n in names])  # (candidates, folds)
    k = m.shape[1]
    picks, outer = [], []
    for i in range(k):
        other = np.delete(m, i, axis=1).mean(axis=1)
        j = int(np.argmax(other))
        picks.append(names[j])
        outer.append(float(m[j, i]))
    best = int(np.argmax(m.mean(axis=1)))
    return {"winner": names[best], "winner_cv": float(m[best].mean()),
            "nested": float(np.mean(outer)), "nested_per_fold": outer, "picks": picks,
            "optimism": float(m[best].mean() - np.mean(outer)),
            "candidates": {n: float(v.mean()) for n, v in zip(names, m)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--task", required=True, choices=tuple(_CORPORA))
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    a = ap.parse_args()
    recs = [r for c in _CORPORA[a.task] for r in read(c, Path(a.data) / c)]
    scores: dict[str, np.ndarray] = {}
    folds_of = None
    for path in a.runs:
        folds = json.load(open(path))["folds"]
        ids = [sorted(f["test_ids"]) for f in folds]
        if folds_of is not None and ids != folds_of:
            raise SystemExit(f"{path}: other folds than {a.runs[0]}")
        folds_of = ids
        name = Path(path).stem
        scores[f"{name} (as run)"] = np.array([f["score"] for f in folds])
        for method in RULE_TUNINGS:
            scores[f"{name} {method}"] = np.array(
                [f["score"] for f in retune_cv(a.task, recs, folds, method)])
    print(json.dumps({"task": a.task, "runs": a.runs, **nested(scores)}, indent=1))


if __name__ == "__main__":
    main()
