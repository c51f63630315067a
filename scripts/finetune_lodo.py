"""Site adaptation of ``abnormal`` by fine-tuning the network, leave-one-database-out.

For each held-out PhysioNet 2016 database and each draw of k labelled recordings of it
(the stratified draws of ``scripts/calibration_recipes.py`` / ``calibration_lodo.py``,
same seed, so they are paired with the ``adapt`` calibration's figures on the same
draws), the fold's network (``scripts/calibration_lodo_models.py --keep-torch DIR``:
``DIR/lodo_<db>.pt``) is fine-tuned on those k recordings
(:func:`heartsound.training.classifier.finetune_network`: a fixed number of epochs,
each drawing 2k recordings balanced over (target, replay) x class, the replay being the
fold's source training recordings; the training augmentation and crops) and its MAcc
measured on the database's other recordings. The decision is the fine-tuned model's
arg-max (P(abnormal) >= 0.5): with the balanced draws the loss aims at the balanced
accuracy, and no threshold is fitted on the k recordings (they were trained on).

On the same draws: ``adapt`` (the shipped calibration, fitted on the fold model's
probabilities of the k) and ``own`` (the fold model's own threshold, nothing fitted).

Nested: for each held-out database the variant with the best mean MAcc over the other
databases is scored on it; reported beside the best variant in hindsight.

    python scripts/finetune_lodo.py LODO_DIR PROFILES.npz RUN.json [--draws 10] \
        [--databases a b e f] [--out finetune.json]

``RUN.json``: the LODO run whose held-out probabilities ``adapt`` is fitted on (the
stored ``docs/results/abnormal_lodo_bigru_phase.json``, or the re-run's ``--json``).
The JSON is rewritten after every draw (draw-major: every database gets draw i before
any gets draw i + 1), so a run stopped early keeps balanced results.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_recipes import draws_of, load_run, score_draws  # noqa: E402

from heartsound.calibration import fit  # noqa: E402
from heartsound.calibration.fitting import balanced_accuracy, stratified_draw  # noqa: E402
from heartsound.calibration.model import logit  # noqa: E402
from heartsound.classification.tasks import patient_target  # noqa: E402
from heartsound.cli.train import _read, _resolve_roots  # noqa: E402
from heartsound.evaluation.classification import binary_auc  # noqa: E402
from heartsound.training import classifier as tc  # noqa: E402
from heartsound.training.runtime import import_torch  # noqa: E402

K = 50
#: the variants, fixed before any was run (docs/results/finetune_s12.md):
#: name -> (trainable parameter prefixes or None = all, epochs, learning rate)
VARIANTS: dict[str, tuple[tuple[str, ...] | None, int, float]] = {
    "last": (("rnns.2", "head"), 20, 1e-4),
    "all": (None, 20, 1e-4),
}


def load_fold(path: Path) -> tuple[Any, Any, list[str]]:
    """The fold's network (eval mode), its TrainConfig and its training record keys."""
    torch = import_torch()
    d = torch.load(path, weights_only=False)
    net = tc.build_model(d["config"])
    net.load_state_dict(d["state_dict"])
    net.eval()
    return net, d["config"], list(d["train_ids"])


def crossfit_adapt(net: Any, cfg: Any, s: dict[str, Any], tr: np.ndarray, te: np.ndarray,
                   prof: np.ndarray, feats: dict[str, np.ndarray], seed: int
                   ) -> tuple[float, float]:
    """``--crossfit-adapt``: the k are split into two stratified halves; the network is
    fine-tuned (variant ``all``) on each half and scores the other half (out-of-fold)
    and the rest of the database; ``adapt`` is fitted on the k out-of-fold scores and
    their profiles and applied to the mean logit of the two half models on the rest,
    with its threshold (the labelled share). Returns (MAcc, AUC) on the rest."""
    trainable, epochs, lr = VARIANTS["all"]
    y = s["y"]  # the halves: a stratified draw of k/2 of the k (own generator, seeded)
    half = tr[stratified_draw(y[tr], len(tr) // 2, np.random.default_rng(seed))]
    halves = [half, np.setdiff1d(tr, half)]
    oof = np.zeros(len(y))
    z_rest = np.zeros(len(te))
    for h, other in ((halves[0], halves[1]), (halves[1], halves[0])):
        ft = tc.finetune_network(net, cfg, [s["recs"][i] for i in h], feats,
                                 replay=s["src"], epochs=epochs, lr=lr,
                                 trainable=trainable, seed=seed)
        p = tc.predict_records(ft, [s["recs"][i] for i in np.concatenate([other, te])],
                               cfg, feats)[:, 1]
        oof[other] = p[:len(other)]
        z_rest += logit(p[len(other):]) / 2
    cal = fit("abnormal", oof[tr], np.where(y[tr], "abnormal", "normal"), method="adapt",
              profiles=prof[tr])
    q = cal.calibrated(1 / (1 + np.exp(-z_rest)), prof[te])
    return balanced_accuracy(y[te], q >= cal.threshold), binary_auc(y[te], q)


def nested(means: dict[str, dict[str, float]], dbs: list[str]) -> dict[str, Any]:
    """Per database the variant best on the other databases and its score there; the
    best variant in hindsight (mean over ``dbs``)."""
    out: dict[str, Any] = {"folds": {}}
    for d in dbs:
        pick = max(means, key=lambda v: np.mean([means[v][o] for o in dbs if o != d]))
        out["folds"][d] = {"chosen": pick, "macc": means[pick][d]}
    out["nested"] = float(np.mean([f["macc"] for f in out["folds"].values()]))
    best = max(means, key=lambda v: np.mean([means[v][d] for d in dbs]))
    out["hindsight"] = {"variant": best, "macc": float(np.mean([means[best][d] for d in dbs]))}
    return out


def summary(res: dict[str, dict[str, list[float]]], dbs: list[str]) -> dict[str, Any]:
    """Per database and method: mean, sd, paired difference vs ``adapt``; LODO means
    over the draws every database has; the nested choice among the variants."""
    n = min(len(v) for d in dbs for m, v in res[d].items() if m in (*VARIANTS, "allcf"))
    per: dict[str, Any] = {}
    for d in dbs:
        base = np.array(res[d]["adapt"][:n])
        per[d] = {}
        for m, v in res[d].items():
            if m.endswith("_auc") or m == "seconds":
                continue
            v = np.array(v[:n])
            per[d][m] = {"mean": float(v.mean()), "sd": float(v.std()),
                         "diff_vs_adapt": float((v - base).mean()),
                         "diff_sd": float((v - base).std())}
    methods = list(per[dbs[0]])
    lodo = {}
    for m in methods:
        draws = np.mean([np.array(res[d][m][:n]) for d in dbs], axis=0)
        base = np.mean([np.array(res[d]["adapt"][:n]) for d in dbs], axis=0)
        lodo[m] = {"mean": float(draws.mean()), "sd_over_draws": float(draws.std()),
                   "diff_vs_adapt": float((draws - base).mean()),
                   "diff_sd": float((draws - base).std())}
    means = {v: {d: per[d][v]["mean"] for d in dbs} for v in VARIANTS if v in methods}
    return {"draws_used": n, "per_database": per, "lodo_mean": lodo,
            "nested": nested(means, dbs) if len(means) > 1 else None}


def fine_tuned(v: str, net: Any, cfg: Any, s: dict[str, Any], tr: np.ndarray,
               te: np.ndarray, feats: dict[str, np.ndarray], seed: int) -> tuple[float, float]:
    """Variant ``v`` fine-tuned on the k recordings ``tr``: (MAcc at P >= 0.5, AUC) on
    ``te``."""
    trainable, epochs, lr = VARIANTS[v]
    ft = tc.finetune_network(net, cfg, [s["recs"][i] for i in tr], feats, replay=s["src"],
                             epochs=epochs, lr=lr, trainable=trainable, seed=seed)
    p = tc.predict_records(ft, [s["recs"][i] for i in te], cfg, feats)[:, 1]
    return balanced_accuracy(s["y"][te], p >= 0.5), binary_auc(s["y"][te], p)


def prepare(a: argparse.Namespace, folds: dict[str, Any], by_key: dict[str, Any]
            ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, list[float]]]]:
    """Per database: the site (records, labels, draws, replay records, profiles) and the
    results so far (``own``, ``adapt`` and the fold model's AUC on the same draws)."""
    run = load_run(a.run_json)
    pz = np.load(a.profiles)
    prof_of = dict(zip(pz["ids"].tolist(), pz["profiles"]))
    site: dict[str, dict[str, Any]] = {}
    res: dict[str, dict[str, list[float]]] = {}
    for db in a.databases:
        f = run[db]
        # the 50 draws per k of calibration_recipes.py (seed 0): the first --draws at k = 50
        draws = draws_of(f["y"], 50, a.seed, 20)[K][:a.draws]
        prof = np.stack([prof_of[i] for i in f["ids"]])
        base = score_draws(f["raw"], f["y"], prof, f["thr"], {K: draws})[K]
        site[db] = {"recs": [by_key[i] for i in f["ids"]], "y": f["y"], "draws": draws,
                    "src": [by_key[i] for i in folds[db][2]], "prof": prof}
        tests = [np.setdiff1d(np.arange(len(f["y"])), tr) for tr in draws]
        res[db] = {"own": base["own"].tolist(), "adapt": base["adapt"].tolist(),
                   "seconds": [], "own_auc": [binary_auc(f["y"][te], f["raw"][te])
                                              for te in tests]}
    return site, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lodo_dir")
    ap.add_argument("profiles")
    ap.add_argument("run_json")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--databases", nargs="+", default=["a", "b", "e", "f"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="finetune.json")
    ap.add_argument("--crossfit-adapt", action="store_true",
                    help="exploratory (added after the first draws, not among the fixed "
                         "variants): only the variant 'allcf', see crossfit_adapt()")
    a = ap.parse_args()
    methods = ["allcf"] if a.crossfit_adapt else a.variants
    logging.basicConfig(level=logging.WARNING)
    recs = _read(("physionet2016", "circor2022"),
                 _resolve_roots([os.environ.get("HEARTSOUND_DATA", "../shared/data")]))
    recs = [r for r in recs if patient_target("abnormal", r) is not None]
    by_key = {tc.record_key(r): r for r in recs}
    folds = {db: load_fold(Path(a.lodo_dir) / f"lodo_{db}.pt") for db in a.databases}
    feats = tc.feature_cache(recs, next(iter(folds.values()))[1].frontend)
    site, res = prepare(a, folds, by_key)
    for j in range(a.draws):
        for db in a.databases:
            s, (net, cfg, _) = site[db], folds[db]
            tr = s["draws"][j]
            te = np.setdiff1d(np.arange(len(s["y"])), tr)
            for v in methods:
                t0 = time.time()
                if v == "allcf":
                    macc, auc = crossfit_adapt(net, cfg, s, tr, te, s["prof"], feats,
                                               a.seed + j)
                else:
                    macc, auc = fine_tuned(v, net, cfg, s, tr, te, feats, a.seed + j)
                res[db].setdefault(v, []).append(macc)
                res[db].setdefault(v + "_auc", []).append(auc)
                res[db]["seconds"].append(time.time() - t0)
                print(json.dumps({"draw": j, "database": db, "variant": v, "macc": macc,
                                  "adapt": res[db]["adapt"][j],
                                  "seconds": round(time.time() - t0, 1)}), flush=True)
        Path(a.out).write_text(json.dumps(
            {"k": K, "variants": {v: list(VARIANTS[v]) for v in methods if v in VARIANTS},
             "methods": methods,
             "threshold": ("adapt fitted on 2-fold out-of-fold scores of the k"
                           if a.crossfit_adapt else
                           "arg-max (P(abnormal) >= 0.5), nothing fitted on the k"),
             "seed": a.seed, "run_json": Path(a.run_json).name, "draws_done": j + 1,
             **summary(res, a.databases), "per_draw": res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
