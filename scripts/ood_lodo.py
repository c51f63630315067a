"""Does the OOD score (:mod:`heartsound.classification.ood`) tell a new site from the
training sites, and do errors grow with it? Leave-one-PhysioNet-database-out.

For each PhysioNet 2016 database d: the site statistics are fitted on half of the
recordings of every other site (PhysioNet databases and CirCor, halves by ``--seed``,
whole CirCor patients), and the AUC of the score for telling d's recordings from the
other half of the training sites' recordings is measured. The error-vs-score table pools
every held-out database: each recording's score (statistics fitted without its database,
on all other recordings) beside whether the leave-one-database-out model (``probs`` of a
``heartsound train classifier --lodo --json`` run, at its own threshold) got it wrong;
``error_auc_within_database`` is the AUC of the score for telling the model's errors from
its correct answers inside each held-out database.

    python scripts/ood_lodo.py out/profiles.npz docs/results/abnormal_lodo_bigru_phase.json \
        --external out/profiles_pascal.npz
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from heartsound.classification.ood import fit_stats, load_stats, score
from heartsound.evaluation.classification import binary_auc

BINS = (0.0, 0.8, 1.0, 1.2, 1.42, 2.0, 3.0, np.inf)


def _halves(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """True for the fitted half: CirCor by patient (id before '_'), others by record."""
    groups = np.array([i.split("/")[1].split("_")[0] for i in ids])
    uniq = np.unique(groups)
    chosen = set(rng.permutation(uniq)[: len(uniq) // 2])
    return np.array([g in chosen for g in groups])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profiles")
    ap.add_argument("lodo_json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--external", help="profiles of corpora never trained on (e.g. "
                    "PASCAL 2011): share flagged by the shipped statistics, per site")
    a = ap.parse_args()
    pz = np.load(a.profiles)
    ids, sites, x = pz["ids"], pz["sites"], pz["profiles"]
    fit_half = _halves(ids, np.random.default_rng(a.seed))
    row = {k: i for i, k in enumerate(ids)}
    auc, scores, wrong, thr_flag, err_auc, flag = {}, [], [], {}, {}, []
    for f in json.load(open(a.lodo_json))["folds"]:
        db = f["test_ids"][0].split("/")[1][0]
        held = sites == f"physionet2016/{db}"
        st = fit_stats(x[~held & fit_half], list(sites[~held & fit_half]))
        s_new = score(st, x[held])
        s_old = score(st, x[~held & ~fit_half])
        auc[db] = binary_auc(np.r_[np.ones(len(s_new)), np.zeros(len(s_old))],
                             np.r_[s_new, s_old])
        thr_flag[db] = {"flagged_new": float(np.mean(s_new >= st.threshold)),
                        "flagged_training_sites": float(np.mean(s_old >= st.threshold)),
                        "median_new": float(np.median(s_new)),
                        "median_training_sites": float(np.median(s_old))}
        st_all = fit_stats(x[~held], list(sites[~held]))
        idx = [row[i] for i in f["test_ids"]]
        s_db = score(st_all, x[idx])
        p = np.asarray(f["probs"])[:, 1] >= f["rules"]["threshold"]
        w_db = p != np.array([t == "abnormal" for t in f["truth"]])
        err_auc[db] = binary_auc(w_db, s_db)
        scores += s_db.tolist()
        wrong += w_db.tolist()
        flag += (s_db >= st_all.threshold).tolist()
    s, w, fl = np.array(scores), np.array(wrong), np.array(flag)
    external = {}
    if a.external:
        ez, shipped = np.load(a.external), load_stats()
        es = score(shipped, ez["profiles"])
        external = {k: {"n": int((ez["sites"] == k).sum()),
                        "flagged": float(np.mean(es[ez["sites"] == k] >= shipped.threshold)),
                        "median": float(np.median(es[ez["sites"] == k]))}
                    for k in sorted(set(ez["sites"]))}
    table = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (s >= lo) & (s < hi)
        table.append({"score": f"[{lo}, {hi})", "n": int(m.sum()),
                      "error_rate": float(w[m].mean()) if m.any() else None})
    print(json.dumps({"auc_new_site_vs_training_sites": auc,
                      "mean_auc": float(np.mean(list(auc.values()))),
                      "flags": thr_flag, "error_vs_score": table,
                      "error_auc_within_database": err_auc,
                      "error_rate_flagged": float(w[fl].mean()) if fl.any() else None,
                      "error_rate_not_flagged": float(w[~fl].mean()),
                      "n_flagged": int(fl.sum()),
                      "n": int(len(s)), "overall_error": float(w.mean()),
                      "external_shipped_statistics": external}, indent=1))


if __name__ == "__main__":
    main()
