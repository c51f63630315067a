"""Site calibration of ``murmur`` measured leave-one-campaign-out on CirCor.

Input: the per-fold recording probabilities of ``scripts/murmur_loco.py`` (a model trained
on the other campaign) and the recordings' spectral profiles (``scripts/site_profiles.py``).
As ``heartsound calibrate`` is used: k labelled patients of the held-out campaign
(stratified Present / not, ``--draws`` draws) give their recordings with recording labels
(murmur audible at that location: Present; otherwise the patient's label; Unknown left
out of the fit), a calibration of the recordings' P(Present) is fitted with
:func:`heartsound.calibration.fit`, and the weighted accuracy (PhysioNet 2022) is measured
on the campaign's other patients: Present when any of the patient's recordings reaches
the calibrated threshold, else Unknown or Absent by the fold's own ``t_unknown`` rule.
k = 0 is the fold's own rules.

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
from heartsound.classification.tasks import (aggregate_patient, patient_groups,
                                             patient_target, recording_target)
from heartsound.datasets import read
from heartsound.evaluation.metrics import murmur_weighted_accuracy
from heartsound.training.classifier.data import record_key

KS = (0, 10, 25, 50, 100)


def _site(fold: dict[str, Any], by_key: dict[str, Any], prof: np.ndarray,
          row: dict[str, int]) -> dict[str, Any]:
    """Recordings of the held-out campaign: raw P(Present), recording labels, profiles,
    probabilities, and their patients (index lists) with the patients' targets."""
    recs = [by_key[k] for k in fold["test_ids"]]
    pats = [(idx, patient_target("murmur", recs[idx[0]]))
            for idx in patient_groups(recs).values()]
    pats = [(idx, t) for idx, t in pats if t is not None]
    probs = np.asarray(fold["probs"])
    return {"raw": probs[:, 0], "probs": probs,
            "rec_label": np.array([recording_target("murmur", r) or "Unknown" for r in recs]),
            "prof": prof[[row[k] for k in fold["test_ids"]]],
            "pat_idx": [idx for idx, _ in pats], "pat_truth": np.array([t for _, t in pats])}


def _patient_labels(site: dict[str, Any], pats: np.ndarray, q: np.ndarray, thr: float,
                    rules: dict[str, float]) -> list[str]:
    """Present when any recording's calibrated score reaches ``thr``; else Unknown or
    Absent by the model's own ``t_unknown`` rule on the recordings' probabilities."""
    below = {**rules, "t_present": 2.0}
    out = []
    for j in pats:
        idx = site["pat_idx"][j]
        out.append("Present" if q[idx].max() >= thr
                   else aggregate_patient("murmur", site["probs"][idx], below)[0])
    return out


def one_campaign(fold: dict[str, Any], site: dict[str, Any], args: Any) -> dict[str, Any]:
    rules, truth = fold["rules"], site["pat_truth"]
    pos = truth == "Present"
    allp = np.arange(len(truth))
    k0 = murmur_weighted_accuracy(list(truth), _patient_labels(
        site, allp, site["raw"], rules["t_present"], rules))
    out: dict[str, Any] = {"n_patients": int(len(truth)), "n_present": int(pos.sum()),
                           "n_recordings": int(len(site["raw"])), "k0": k0}
    rng = np.random.default_rng(args.seed)
    for k in KS[1:]:
        if len(truth) - k < args.min_test:
            continue
        res: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(args.draws):
            kp = min(max(2, int(round(k * pos.mean()))), k - 2)
            tr = np.concatenate([rng.choice(np.flatnonzero(pos), kp, replace=False),
                                 rng.choice(np.flatnonzero(~pos), k - kp, replace=False)])
            te = np.setdiff1d(allp, tr)
            rec = np.concatenate([site["pat_idx"][j] for j in tr])
            for m in METHODS:
                cal = fit("murmur", site["raw"][rec], site["rec_label"][rec], method=m,
                          profiles=site["prof"][rec])
                q = cal.calibrated(site["raw"], site["prof"])
                res[m].append(murmur_weighted_accuracy(
                    list(truth[te]), _patient_labels(site, te, q, cal.threshold, rules)))
        out[f"k{k}"] = {m: {"mean": float(np.mean(v)), "sd": float(np.std(v))}
                        for m, v in res.items()}
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
        out[s["campaign"]] = one_campaign(f, _site(f, by_key, pz["profiles"], row), args)
    print(json.dumps({"source": args.loco_json, "draws": args.draws, "seed": args.seed,
                      "campaigns": out}, indent=1))


if __name__ == "__main__":
    main()
