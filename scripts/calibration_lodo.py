"""Site calibration measured leave-one-database-out (PhysioNet 2016, ``abnormal``).

For each held-out database, the recordings' P(abnormal) of the model trained without it
(the ``probs`` of a ``heartsound train classifier --lodo --json`` run), and the
recordings' spectral profiles (``scripts/site_profiles.py``). For k labelled recordings
drawn from the database (stratified by class, ``--draws`` random draws), a calibration is
fitted with :func:`heartsound.calibration.fit` and the MAcc (mean of sensitivity and
specificity) is measured on the database's other recordings. k = 0 is the model's own
threshold. Databases with fewer than ``--min-test`` recordings left are skipped at that k.

    python scripts/calibration_lodo.py docs/results/abnormal_lodo_bigru_phase.json \
        out/profiles.npz [--draws 50] > docs/results/calibration_lodo.json
    python scripts/calibration_lodo.py out/pascal_abnormal.npz out/profiles_pascal.npz \
        --external > docs/results/calibration_pascal.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from heartsound.calibration import METHODS, fit
from heartsound.calibration.fitting import balanced_accuracy, stratified_draw

KS = (0, 10, 25, 50, 100)


def one_site(raw: np.ndarray, y: np.ndarray, prof: np.ndarray, thr0: float, args: Any
             ) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(len(y)), "n_abnormal": int(y.sum()),
                           "k0": balanced_accuracy(y, raw >= thr0)}
    rng = np.random.default_rng(args.seed)
    for k in KS[1:]:
        if len(y) - k < args.min_test or min(y.sum(), (~y).sum()) < 3:
            continue
        res: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(args.draws):
            tr = stratified_draw(y, k, rng)
            te = np.setdiff1d(np.arange(len(y)), tr)
            lab = np.where(y[tr], "abnormal", "normal")
            for m in METHODS:
                cal = fit("abnormal", raw[tr], lab, method=m, profiles=prof[tr])
                q = cal.calibrated(raw[te], prof[te])
                res[m].append(balanced_accuracy(y[te], q >= cal.threshold))
        out[f"k{k}"] = {m: {"mean": float(np.mean(v)), "sd": float(np.std(v)),
                            "p5": float(np.percentile(v, 5)),
                            "p95": float(np.percentile(v, 95))} for m, v in res.items()}
    return out


def _lodo_sites(path: str, prof: np.ndarray, row: dict[str, int]):
    """(database, raw, y, profiles, own threshold) of each fold of a LODO run."""
    for f in json.load(open(path))["folds"]:
        yield (f["test_ids"][0].split("/")[1][0], np.asarray(f["probs"])[:, 1],
               np.array([t == "abnormal" for t in f["truth"]]),
               prof[[row[i] for i in f["test_ids"]]], float(f["rules"]["threshold"]))


def _external_sites(path: str, prof: np.ndarray, row: dict[str, int]):
    """The same for the shipped model's scores of a corpus never trained on
    (``scripts/pascal_scores.py``), at the shipped threshold."""
    from heartsound.classification.inference import load_bundle

    z = np.load(path)
    thr = float(load_bundle("abnormal")["rules"]["threshold"])
    for s in sorted(set(z["sites"])):
        m = z["sites"] == s
        yield (s, z["raw"][m], z["truth"][m] == "abnormal",
               prof[[row[i] for i in z["ids"][m]]], thr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lodo_json", help="LODO run JSON, or with --external the NPZ of "
                    "scripts/pascal_scores.py")
    ap.add_argument("profiles")
    ap.add_argument("--external", action="store_true",
                    help="score the shipped model on a corpus it was never trained on")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--min-test", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pz = np.load(args.profiles)
    row = {k: i for i, k in enumerate(pz["ids"])}
    gen = _external_sites if args.external else _lodo_sites
    sites = {name: one_site(raw, y, prof, thr, args)
             for name, raw, y, prof, thr in gen(args.lodo_json, pz["profiles"], row)}
    summary: dict[str, Any] = {"k0": {"mean": float(np.mean([s["k0"] for s in sites.values()])),
                                      "databases": sorted(sites)}}
    for k in KS[1:]:
        dbs = sorted(d for d, s in sites.items() if f"k{k}" in s)
        summary[f"k{k}"] = {"databases": dbs, **{m: float(np.mean(
            [sites[d][f"k{k}"][m]["mean"] for d in dbs])) for m in METHODS}}
    print(json.dumps({"source": args.lodo_json, "draws": args.draws, "seed": args.seed,
                      "min_test": args.min_test, "summary": summary, "databases": sites},
                     indent=1))


if __name__ == "__main__":
    main()
