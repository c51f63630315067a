"""Leave-one-campaign-out for the shipped murmur (or severity) recipe on CirCor (CC2014 vs
CC2015).

Two folds: train the shipped recipe (murmur: bidirectional GRU, up-sampling,
cardiac-phase channels, cross-fitted ensemble of ``--inner-folds`` members, rules tuned on
the members' out-of-fold probabilities; severity: the CNN of ``models/severity.md``) on
one campaign's patient groups and score the other's, at patient level (murmur weighted
accuracy, the PhysioNet 2022 metric; severity UAR). A patient group (patient
merged with ``Additional ID``) is put in the campaign of its first recording; groups
spanning both campaigns are counted in the output.

    python scripts/murmur_loco.py [--data ../shared/data] [--max-minutes 5]
        [--inner-folds 3] --json out/murmur_loco.json

Prints the :func:`heartsound.evaluation.classification.summarize_cv` summary with a
``campaign`` per fold.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from heartsound.classification.frontend import FrontendConfig
from heartsound.classification.tasks import patient_target
from heartsound.datasets import read
from heartsound.evaluation.classification import summarize_cv
from heartsound.serialize import portable
from heartsound.training.classifier import TrainConfig, cross_validate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--task", default="murmur", choices=("murmur", "severity"))
    ap.add_argument("--max-minutes", type=float, default=5.0)
    ap.add_argument("--inner-folds", type=int, default=3)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    recs = [r for r in read("circor2022", Path(a.data) / "circor2022")
            if patient_target(a.task, r) is not None]
    first: dict[str, str] = {}
    camps: dict[str, set[str]] = {}
    for r in recs:
        first.setdefault(r.group, r.labels["campaign"])
        camps.setdefault(r.group, set()).add(r.labels["campaign"])
    names = sorted(set(first.values()))
    folds = []
    for c in names:
        te = [i for i, r in enumerate(recs) if first[r.group] == c]
        tr = [i for i, r in enumerate(recs) if first[r.group] != c]
        folds.append((tr, te))
    if a.task == "murmur":  # the shipped murmur recipe (models/murmur.md)
        cfg = TrainConfig(task=a.task, model="gru", bidirectional=True, upsample=True,
                          early_stop="auc", patience=8, max_epochs=40,
                          max_minutes=a.max_minutes, inner_folds=a.inner_folds,
                          frontend=FrontendConfig(phase_channels=True))
    else:  # the shipped severity recipe (models/severity.md; --inner-folds ignored)
        cfg = TrainConfig(task=a.task, model="cnn", max_epochs=25,
                          max_minutes=a.max_minutes)
    hyper = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    hyper.pop("task"), hyper.pop("seed")
    res = cross_validate(a.task, recs, folds=folds, seed=0, progress=True, jobs=1, **hyper)
    summary = summarize_cv(a.task, recs, res)
    for s, c in zip(summary["per_fold"], names):
        s["campaign"] = c
    summary["mixed_groups"] = sum(len(v) > 1 for v in camps.values())
    print(json.dumps(summary, indent=1))
    Path(a.json).write_text(json.dumps({"summary": summary, "args": portable(vars(a)), "folds": [
        {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.items()}
        for f in res]}))


if __name__ == "__main__":
    main()
