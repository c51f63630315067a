"""Training recipe x site calibration, leave-one-database-out, with a nested choice.

For every stored LODO run of an ``abnormal`` training recipe (``heartsound train
classifier --lodo --json``: each PhysioNet 2016 database's P(abnormal) from a model
trained without it) and every training-free calibration of
:func:`heartsound.calibration.fit` (plus ``own``, the fold model's own threshold), the
MAcc on a held-out database after fitting the calibration on k of its labelled
recordings (``--draws`` stratified draws, MAcc on its other recordings), as
``scripts/calibration_lodo.py`` measures it for one recipe. The draws of a database are
the same for every recipe and calibration (the recipes' test recordings are aligned by
id), and they are those of ``calibration_lodo.py`` with the same seed, so its figures
for the shipped recipe are reproduced.

Nested: for each held-out database and k, the (recipe, calibration) pair with the best
mean MAcc over the *other* databases of the panel (``--panel``: those where every k is
measured, a b e f by default) is chosen and scored on the held-out one; the mean of
those scores is the nested figure, beside the best pair in hindsight (chosen on all).

    python scripts/calibration_recipes.py out/profiles.npz \
        docs/results/abnormal_lodo_*.json [--draws 50] \
        > docs/results/calibration_recipes_s10.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.calibration import METHODS, fit
from heartsound.calibration.fitting import balanced_accuracy, stratified_draw
from heartsound.calibration.model import logit

KS = (10, 25, 50, 100)
CALS = ("own",) + METHODS


def recipe_name(path: str) -> str:
    """``docs/results/abnormal_lodo_bigru_phase.json`` -> ``bigru_phase``."""
    return Path(path).stem.replace("abnormal_lodo_", "")


def load_run(path: str) -> dict[str, dict[str, Any]]:
    """Per database letter: ``ids`` (test ids), ``raw`` P(abnormal) [shape=(n,)], ``y``
    (bool, abnormal), ``thr`` (the fold model's own threshold)."""
    with open(path) as fh:
        folds = json.load(fh)["folds"]
    out = {}
    for f in folds:
        out[f["test_ids"][0].split("/")[1][0]] = {
            "ids": list(f["test_ids"]), "raw": np.asarray(f["probs"], np.float64)[:, 1],
            "y": np.array([t == "abnormal" for t in f["truth"]]),
            "thr": float(f["rules"]["threshold"])}
    return out


def draws_of(y: np.ndarray, n_draws: int, seed: int, min_test: int
             ) -> dict[int, list[np.ndarray]]:
    """Per k, the training indices of each draw (the rng sequence of
    ``calibration_lodo.py``: one generator per database, k ascending)."""
    rng = np.random.default_rng(seed)
    out: dict[int, list[np.ndarray]] = {}
    for k in KS:
        if len(y) - k < min_test or min(y.sum(), (~y).sum()) < 3:
            continue
        out[k] = [stratified_draw(y, k, rng) for _ in range(n_draws)]
    return out


def score_draws(raw: np.ndarray, y: np.ndarray, prof: np.ndarray, thr: float,
                draws: dict[int, list[np.ndarray]]) -> dict[int, dict[str, np.ndarray]]:
    """MAcc [shape=(draws,)] per k and calibration on the recordings not drawn."""
    out: dict[int, dict[str, np.ndarray]] = {}
    for k, trs in draws.items():
        res: dict[str, list[float]] = {c: [] for c in CALS}
        for tr in trs:
            te = np.setdiff1d(np.arange(len(y)), tr)
            res["own"].append(balanced_accuracy(y[te], raw[te] >= thr))
            lab = np.where(y[tr], "abnormal", "normal")
            for m in METHODS:
                cal = fit("abnormal", raw[tr], lab, method=m, profiles=prof[tr])
                q = cal.calibrated(raw[te], prof[te])
                res[m].append(balanced_accuracy(y[te], q >= cal.threshold))
        out[k] = {c: np.asarray(v) for c, v in res.items()}
    return out


def choose(means: dict[tuple[str, str], dict[str, float]], dbs: Iterable[str]
           ) -> tuple[str, str]:
    """The (recipe, calibration) with the best mean of ``means[pair][db]`` over ``dbs``
    (ties: the first in the dict's order)."""
    dbs = list(dbs)
    return max(means, key=lambda p: float(np.mean([means[p][d] for d in dbs])))


def nested(means: dict[tuple[str, str], dict[str, float]], panel: list[str]
           ) -> dict[str, Any]:
    """Nested figure (each database scored with the pair chosen on the others), the best
    pair in hindsight, and the per-database oracle (each database scored with the pair
    best on itself: an upper bound of any choice), for per-database mean MAcc
    ``means[pair][db]``."""
    folds = {}
    for d in panel:
        pair = choose(means, [o for o in panel if o != d])
        folds[d] = {"chosen": list(pair), "macc": means[pair][d]}
    best = choose(means, panel)
    oracle = {d: list(choose(means, [d])) for d in panel}
    return {"nested": float(np.mean([f["macc"] for f in folds.values()])), "folds": folds,
            "hindsight": {"pair": list(best),
                          "macc": float(np.mean([means[best][d] for d in panel]))},
            "oracle_per_database": {"pairs": oracle, "macc": float(np.mean(
                [means[tuple(p)][d] for d, p in oracle.items()]))}}


def summarise(v: np.ndarray) -> dict[str, float]:
    return {"mean": float(v.mean()), "sd": float(v.std()),
            "p5": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}


def pools(recipes: list[str], shipped: str) -> dict[str, list[tuple[str, str]]]:
    """Candidate sets for the nested choice (``ensemble`` only in the last)."""
    every = [(r, c) for r in recipes for c in CALS]
    stored = [p for p in every if p[0] != "ensemble"]
    return {"stored recipes x calibrations": stored,
            "shipped recipe x calibrations": [p for p in stored if p[0] == shipped],
            "stored recipes, adapt": [p for p in stored if p[1] == "adapt"],
            "stored recipes, platt": [p for p in stored if p[1] == "platt"],
            "stored recipes, own threshold": [p for p in stored if p[1] == "own"],
            "stored recipes and ensemble x calibrations": every}


def ensemble(runs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """A pseudo-recipe: per database, the sigmoid of the mean logit of every run's
    P(abnormal) (own threshold: the same mean of the runs' thresholds)."""
    first = next(iter(runs.values()))
    out = {}
    for d, f in first.items():
        z = np.mean([logit(r[d]["raw"]) for r in runs.values()], axis=0)
        t = np.mean([logit(r[d]["thr"]) for r in runs.values()])
        out[d] = {**f, "raw": 1 / (1 + np.exp(-z)), "thr": float(1 / (1 + np.exp(-t)))}
    return out


def measure(runs: dict[str, dict[str, dict[str, Any]]], prof_of: dict[str, np.ndarray],
            args: Any) -> dict[str, dict[str, dict[int, dict[str, np.ndarray]]]]:
    """Per recipe, database, k and calibration: MAcc of each draw."""
    base = next(iter(runs.values()))
    res: dict[str, dict[str, dict[int, dict[str, np.ndarray]]]] = {r: {} for r in runs}
    for d, f in base.items():
        for r, run in runs.items():
            if run[d]["ids"] != f["ids"]:
                raise SystemExit(f"{r}: database {d}'s test recordings differ from {base}")
        draws = draws_of(f["y"], args.draws, args.seed, args.min_test)
        prof = np.stack([prof_of[i] for i in f["ids"]])
        for r, run in runs.items():
            res[r][d] = score_draws(run[d]["raw"], f["y"], prof, run[d]["thr"], draws)
    return res


def report(res: dict[str, dict[str, dict[int, dict[str, np.ndarray]]]], shipped: str,
           panel: list[str]) -> dict[str, Any]:
    """Summaries per recipe/database/k/calibration, panel means and nested figures."""
    recipes = list(res)
    per = {r: {d: {f"k{k}": {c: summarise(v) for c, v in byk.items()}
                   for k, byk in dd.items()} for d, dd in res[r].items()} for r in recipes}
    means, nest = {}, {}
    for k in KS:
        dbs = [d for d in panel if k in res[shipped][d]]
        if len(dbs) < 2:
            continue
        m = {(r, c): {d: float(res[r][d][k][c].mean()) for d in dbs}
             for r in recipes for c in CALS}
        means[f"k{k}"] = {"databases": dbs, **{r: {c: float(np.mean(list(m[(r, c)].values())))
                                                     for c in CALS} for r in recipes}}
        nest[f"k{k}"] = {}
        for name, pool in pools(recipes, shipped).items():
            out = nested({p: m[p] for p in pool}, dbs)
            draws = np.mean([res[f["chosen"][0]][d][k][f["chosen"][1]]
                             for d, f in out["folds"].items()], axis=0)
            out["sd_over_draws"] = float(draws.std())
            nest[f"k{k}"][name] = out
    return {"per_recipe": per, "panel_means": means, "nested": nest,
            "paired_adapt_vs_shipped": paired(res, shipped, panel)}


def paired(res: dict[str, dict[str, dict[int, dict[str, np.ndarray]]]], shipped: str,
           panel: list[str]) -> dict[str, Any]:
    """Per recipe and k: ``adapt`` MAcc minus the shipped recipe's ``adapt`` on the same
    draws, per database (mean) and over the panel (mean, sd over draws)."""
    out: dict[str, Any] = {}
    for r in res:
        if r == shipped:
            continue
        out[r] = {}
        for k in KS:
            dbs = [d for d in panel if k in res[shipped][d]]
            diff = {d: res[r][d][k]["adapt"] - res[shipped][d][k]["adapt"] for d in dbs}
            mean = np.mean(list(diff.values()), axis=0)
            out[r][f"k{k}"] = {"panel": {"mean": float(mean.mean()), "sd": float(mean.std())},
                               **{d: float(v.mean()) for d, v in diff.items()}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profiles", help="NPZ of scripts/site_profiles.py")
    ap.add_argument("runs", nargs="+", help="LODO run JSONs (abnormal_lodo_<recipe>.json)")
    ap.add_argument("--shipped", default="bigru_phase", help="the shipped recipe's name")
    ap.add_argument("--panel", nargs="+", default=["a", "b", "e", "f"])
    ap.add_argument("--ensemble", action="store_true",
                    help="add the pseudo-recipe 'ensemble' (mean logit of every run)")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--min-test", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pz = np.load(args.profiles)
    prof_of = dict(zip(pz["ids"].tolist(), pz["profiles"]))
    runs = {recipe_name(p): load_run(p) for p in args.runs}
    common = set.intersection(*(set(r) for r in runs.values()))  # runs of a-f or a b e f
    runs = {n: {d: f for d, f in r.items() if d in common} for n, r in runs.items()}
    if args.shipped not in runs:
        raise SystemExit(f"the shipped recipe {args.shipped!r} is not among the runs")
    runs = {args.shipped: runs.pop(args.shipped), **runs}
    if args.ensemble:
        runs["ensemble"] = ensemble({r: v for r, v in runs.items()})
    res = measure(runs, prof_of, args)
    print(json.dumps({"runs": [Path(p).name for p in args.runs], "shipped": args.shipped,
                      "calibrations": list(CALS), "draws": args.draws, "seed": args.seed,
                      "min_test": args.min_test, "panel": args.panel,
                      **report(res, args.shipped, args.panel)}, indent=1))


if __name__ == "__main__":
    main()
