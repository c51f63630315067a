"""A CirCor cross-validation run (``heartsound train classifier --cv --json``) scored per
screening campaign (CC2014, CC2015): each fold's patients decided with that fold's rules,
pooled over folds, then split by campaign. The in-distribution reference for the
leave-one-campaign-out figures of ``scripts/murmur_loco.py``.

    python scripts/cv_by_campaign.py --task murmur docs/results/murmur_cv_bigru_xfit3_phase.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from heartsound.datasets import read
from heartsound.evaluation.classification import HEADLINE, scores
from heartsound.training.classifier import patient_decisions
from heartsound.training.classifier.data import record_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--task", required=True, choices=("murmur", "severity"))
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    a = ap.parse_args()
    by_key = {record_key(r): r for r in read("circor2022", Path(a.data) / "circor2022")}
    truth: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for f in json.load(open(a.run))["folds"]:
        recs = [by_key[k] for k in f["test_ids"]]
        camp = {r.labels["patient_id"]: r.labels["campaign"] for r in recs}
        ids, t, p = patient_decisions(a.task, recs, np.asarray(f["probs"]), f["rules"])
        for i, ti, pi in zip(ids, t, p):
            truth.setdefault(camp[i], []).append(ti)
            pred.setdefault(camp[i], []).append(pi)
    key = HEADLINE[a.task]
    print(json.dumps({"run": a.run, "task": a.task, "metric": key, "campaigns": {
        c: {"n": len(truth[c]), key: scores(a.task, truth[c], pred[c])[key]}
        for c in sorted(truth)}}, indent=1))


if __name__ == "__main__":
    main()
