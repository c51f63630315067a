"""Site calibration of ``murmur`` measured leave-one-campaign-out on CirCor.

Input: the per-fold recording probabilities of ``scripts/murmur_loco.py`` (a model trained
on the other campaign) and the recordings' spectral profiles (``scripts/site_profiles.py``).
Per patient, the raw score is the largest P(Present) over the patient's recordings (the
bundle rule of :func:`heartsound.classification.tasks.aggregate_patient`) and the profile
the mean of the recordings'. For k labelled patients of the held-out campaign (stratified
Present / not, ``--draws`` draws) a calibration is fitted with
:func:`heartsound.calibration.fit` (Unknown patients left out of the fit) and the weighted
accuracy (PhysioNet 2022) is measured on the campaign's other patients: Present when the
calibrated score reaches the threshold, else Unknown or Absent by the fold's own
``t_unknown`` rule. k = 0 is the fold's own rules.

    python scripts/calibration_loco.py out/murmur_loco.json out/profiles.npz --draws 50
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.calibration import METHODS, fit
from heartsound.classification.tasks import aggregate_patient, patient_groups, patient_target
from heartsound.datasets import read
from heartsound.evaluation.metrics import murmur_weighted_accuracy
from heartsound.training.classifier.data import record_key

KS = (0, 10, 25, 50, 100)


def _patients(fold: dict[str, Any], by_key: dict[str, Any], prof: np.ndarray,
              row: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    recs = [by_key[k] for k in fold["test_ids"]]
    probs = np.asarray(fold["probs"])
    raw, truth, pp, pr = [], [], [], []
    for _, idx in patient_groups(recs).items():
        t = patient_target("murmur", recs[idx[0]])
        if t is None:
            continue
        raw.append(float(probs[idx, 0].max()))
        truth.append(t)
        pp.append(probs[idx].mean(axis=0))
        pr.append(prof[[row[fold["test_ids"][i]] for i in idx]].mean(axis=0))
    return np.array(raw), np.array(truth), np.array(pp), np.array(pr)


def _decide(q: np.ndarray, thr: float, pp: np.ndarray, rules: dict[str, float]) -> list[str]:
    below = {**rules, "t_present": 2.0}
    return ["Present" if qi >= thr else aggregate_patient("murmur", p[None], below)[0]
            for qi, p in zip(q, pp)]


def one_campaign(fold: dict[str, Any], raw, truth, pp, pr, args) -> dict[str, Any]:
    rules = fold["rules"]
    pos = truth == "Present"
    k0 = murmur_weighted_accuracy(list(truth), _decide(raw, rules["t_present"], pp, rules))
    out: dict[str, Any] = {"n": int(len(truth)), "n_present": int(pos.sum()), "k0": k0}
    rng = np.random.default_rng(args.seed)
    for k in KS[1:]:
        if len(truth) - k < args.min_test:
            continue
        res: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(args.draws):
            kp = min(max(2, int(round(k * pos.mean()))), k - 2)
            tr = np.concatenate([rng.choice(np.flatnonzero(pos), kp, replace=False),
                                 rng.choice(np.flatnonzero(~pos), k - kp, replace=False)])
            te = np.setdiff1d(np.arange(len(truth)), tr)
            if (truth[tr] != "Present").sum() - (truth[tr] == "Unknown").sum() < 2:
                continue  # fewer than 2 Absent patients to fit on
            for m in METHODS:
                cal = fit("murmur", raw[tr], truth[tr], method=m, profiles=pr[tr])
                q = cal.calibrated(raw[te], pr[te])
                res[m].append(murmur_weighted_accuracy(
                    list(truth[te]), _decide(q, cal.threshold, pp[te], rules)))
        out[f"k{k}"] = {m: {"mean": float(np.mean(v)), "sd": float(np.std(v)),
                            "draws": len(v)} for m, v in res.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("loco_json")
    ap.add_argument("profiles")
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--min-test", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    run = json.load(open(args.loco_json))
    by_key = {record_key(r): r for r in read("circor2022", Path(args.data) / "circor2022")}
    pz = np.load(args.profiles)
    row = {k: i for i, k in enumerate(pz["ids"])}
    out = {}
    for f, s in zip(run["folds"], run["summary"]["per_fold"]):
        out[s["campaign"]] = one_campaign(f, *_patients(f, by_key, pz["profiles"], row), args)
    print(json.dumps({"source": args.loco_json, "draws": args.draws, "seed": args.seed,
                      "campaigns": out}, indent=1))


if __name__ == "__main__":
    main()
