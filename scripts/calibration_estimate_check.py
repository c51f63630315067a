"""Does ``heartsound calibrate``'s cross-validated estimate tell a site the truth?

Leave-one-database-out (PhysioNet 2016, ``abnormal``): each held-out database plays a new
site. For each of ``--draws`` stratified draws of k labelled recordings, the estimate is
computed on those k alone (:func:`heartsound.calibration.estimate.cross_validated`, as
``calibrate`` prints it), the calibration is fitted on them and scored on the database's
other recordings (the truth the site would see). Reported per database and k: the mean
estimate and the mean truth (bias), the mean absolute error, how often the truth falls in
the estimate's 95 % interval, and how often the verdict on the difference (helps / worse /
cannot tell) agrees with the truth's sign.

    python scripts/calibration_estimate_check.py docs/results/abnormal_lodo_bigru_phase.json \
        out/profiles.npz [--draws 50] [--k 25 50 100] > docs/results/calibration_estimate.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from heartsound.calibration import fit
from heartsound.calibration.estimate import cross_validated
from heartsound.calibration.fitting import balanced_accuracy, stratified_draw


def one_draw(raw, y, prof, thr0, tr, method):
    te = np.setdiff1d(np.arange(len(y)), tr)
    lab = np.where(y[tr], "abnormal", "normal")
    est = cross_validated("abnormal", raw[tr], lab, thr0, method=method, profiles=prof[tr])
    cal = fit("abnormal", raw[tr], lab, method=method, profiles=prof[tr])
    truth = balanced_accuracy(y[te], cal.calibrated(raw[te], prof[te]) >= cal.threshold)
    truth0 = balanced_accuracy(y[te], raw[te] >= thr0)
    return est, truth, truth0


def summarise(rows: list[tuple[dict, float, float]]) -> dict[str, Any]:
    e = np.array([r[0]["calibrated"]["balanced_accuracy"] for r in rows])
    t = np.array([r[1] for r in rows])
    lo = np.array([r[0]["interval"]["calibrated"][0] for r in rows])
    hi = np.array([r[0]["interval"]["calibrated"][1] for r in rows])
    dlo = np.array([r[0]["interval"]["difference"][0] for r in rows])
    dhi = np.array([r[0]["interval"]["difference"][1] for r in rows])
    gain = t - np.array([r[2] for r in rows])
    said_helps, said_worse = dlo > 0, dhi < 0
    return {"draws": len(rows), "estimate_mean": float(e.mean()), "truth_mean": float(t.mean()),
            "bias": float((e - t).mean()), "mae": float(np.abs(e - t).mean()),
            "coverage_95": float(np.mean((t >= lo) & (t <= hi))),
            "interval_width": float((hi - lo).mean()),
            "said_helps": int(said_helps.sum()),
            "said_helps_and_it_did": int((said_helps & (gain > 0)).sum()),
            "said_worse": int(said_worse.sum()),
            "said_worse_and_it_was": int((said_worse & (gain < 0)).sum()),
            "true_gain_mean": float(gain.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lodo_json")
    ap.add_argument("profiles")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--k", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--method", default="adapt")
    ap.add_argument("--min-test", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pz = np.load(args.profiles)
    row = {k: i for i, k in enumerate(pz["ids"])}
    out: dict[str, Any] = {}
    for f in json.load(open(args.lodo_json))["folds"]:
        db = f["test_ids"][0].split("/")[1][0]
        raw = np.asarray(f["probs"])[:, 1]
        y = np.array([t == "abnormal" for t in f["truth"]])
        prof = pz["profiles"][[row[i] for i in f["test_ids"]]]
        thr0 = float(f["rules"]["threshold"])
        rng = np.random.default_rng(args.seed)
        for k in args.k:
            if len(y) - k < args.min_test or min(y.sum(), (~y).sum()) < 3:
                continue
            rows = [one_draw(raw, y, prof, thr0, stratified_draw(y, k, rng), args.method)
                    for _ in range(args.draws)]
            out.setdefault(db, {})[f"k{k}"] = summarise(rows)
    pooled = {}
    for k in args.k:
        vals = [d[f"k{k}"] for d in out.values() if f"k{k}" in d]
        pooled[f"k{k}"] = {key: float(np.mean([v[key] for v in vals]))
                           for key in ("bias", "mae", "coverage_95", "interval_width")}
        pooled[f"k{k}"]["databases"] = sorted(d for d in out if f"k{k}" in out[d])
    print(json.dumps({"source": args.lodo_json, "method": args.method, "draws": args.draws,
                      "seed": args.seed, "pooled": pooled, "databases": out}, indent=1))


if __name__ == "__main__":
    main()
