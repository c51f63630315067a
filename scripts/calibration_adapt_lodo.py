"""Site adaptations of ``abnormal`` compared leave-one-database-out, with the recipe
chosen by a nested protocol.

Inputs: the per-recording logits and attention-pooled embeddings of each LODO fold model
on its held-out database (``scripts/calibration_embeddings.py``: ``emb_<db>.npz``, also
with per-band input normalisation), the spectral profiles (``scripts/site_profiles.py``)
and optionally the CirCor models' scores (``scripts/site_scores.py``). For k labelled
recordings of the held-out database (stratified draws as ``scripts/calibration_lodo.py``,
the same draws for every recipe) each recipe is fitted and its MAcc measured on the
database's other recordings.

A recipe is an L2-regularised logistic regression of the label on the model's logit
(penalty 1e-3: a free scale and offset, Platt) plus standardised extra inputs with
penalty ``l2`` (the profile: ``adapt``; the embedding: ``head``, which shrinks the refit
head toward the original one, whose logit is the first input; the murmur and severity
scores: ``mur``); the threshold is the labelled share of abnormal recordings.

Nested figure: for each held-out database and k, the recipe is the one with the best
mean MAcc over the *other* databases at that k (leave-one-database-out selection); its
score on the held-out database is reported beside the best recipe in hindsight.

    python scripts/calibration_adapt_lodo.py LODO_DIR PROFILES.npz [--scores S.npz] \
        [--draws 50] > docs/results/calibration_adapt_lodo.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from heartsound.calibration.fitting import balanced_accuracy, stratified_draw
from heartsound.calibration.model import logit

KS = (10, 25, 50, 100)
MAIN = ("a", "b", "e", "f")
#: the shipped method of session 8 (``adapt``, L2 10): paired differences are against it
BASELINE = "adapt10"


def recipes() -> dict[str, tuple[str, tuple[tuple[str, float], ...] | None]]:
    """name -> (logit source, ((extra input block, l2), ...)); blocks None: the model's
    own threshold, nothing fitted. ``bn``: the model run on per-band normalised input."""
    r: dict[str, tuple[str, tuple[tuple[str, float], ...] | None]] = {"platt": ("z", ())}
    for l2 in (3, 10, 30):
        r[f"adapt{l2}"] = ("z", (("prof", l2),))
        r[f"adaptmur{l2}"] = ("z", (("prof", l2), ("mur", l2)))
        r[f"bnadapt{l2}"] = ("z_bn", (("prof", l2),))
    r["mur10"] = ("z", (("mur", 10),))
    for l2 in (30, 100, 300):
        r[f"head{l2}"] = ("z", (("emb", l2),))
        r[f"headprof{l2}"] = ("z", (("emb", l2), ("prof", 10)))
    r["bnhead100"] = ("z_bn", (("emb_bn", 100),))
    r["bnown"] = ("z_bn", None)
    r["bnplatt"] = ("z_bn", ())
    r["bnmur10"] = ("z_bn", (("mur", 10),))
    r["bnadaptmur10"] = ("z_bn", (("prof", 10), ("mur", 10)))
    r["headprofmur100"] = ("z", (("emb", 100), ("prof", 10), ("mur", 10)))
    return r


def fit_predict(site: dict[str, np.ndarray], recipe: tuple[str, tuple[tuple[str, float], ...]],
                tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Calibrated P(abnormal) of ``te`` by the recipe fitted on ``tr``; per-input
    penalties by scaling the inputs (sklearn penalises ``||w||^2 / 2``). Blocks None: the
    model's own probability, not fitted."""
    src, blocks = recipe
    if blocks is None:
        return 1 / (1 + np.exp(-site[src][te]))
    cols, pen = [site[src][:, None]], [1e-3]
    for name, l2 in blocks:
        x = site[name]
        cols.append(x)
        pen += [l2] * x.shape[1]
    x = np.column_stack(cols)
    mu, sd = x[tr].mean(axis=0), x[tr].std(axis=0) + 1e-6
    mu[0], sd[0] = 0.0, 1.0  # the logit is kept on its own scale
    xs = (x - mu) / sd / np.sqrt(np.array(pen))
    lr = LogisticRegression(C=1.0, max_iter=1000, tol=1e-6)
    lr.fit(xs[tr], site["y"][tr])
    return lr.predict_proba(xs[te])[:, 1]


def load_site(d: Path, db: str, prof: dict[str, np.ndarray],
              scores: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    z = np.load(d / f"emb_{db}.npz")
    ids = list(z["ids"])
    site = {"y": z["y"].astype(bool), "z": z["logp"][:, 1] - z["logp"][:, 0],
            "z_bn": z["logp_bn"][:, 1] - z["logp_bn"][:, 0], "emb": z["emb"],
            "emb_bn": z["emb_bn"], "prof": np.array([prof[i] for i in ids]),
            "thr0": float(z["threshold"])}
    site["p"] = 1 / (1 + np.exp(-site["z"]))
    if (d / f"bn_draws_{db}.npz").exists():
        site["bn_draws"] = dict(np.load(d / f"bn_draws_{db}.npz"))
    if scores is not None:
        site["mur"] = np.column_stack([logit(np.array([scores[i][0] for i in ids])),
                                       logit(np.array([scores[i][1] for i in ids]))])
    return site


def evaluate(site: dict[str, np.ndarray], rs: dict[str, Any], draws: int, seed: int,
             min_test: int) -> dict[str, Any]:
    y = site["y"]
    out: dict[str, Any] = {"n": int(len(y)), "n_abnormal": int(y.sum()),
                           "k0": balanced_accuracy(y, site["p"] >= site["thr0"])}
    rng = np.random.default_rng(seed)
    for k in KS:
        if len(y) - k < min_test:
            continue
        res: dict[str, list[float]] = {n: [] for n in rs}
        for _ in range(draws):
            tr = stratified_draw(y, k, rng)
            te = np.setdiff1d(np.arange(len(y)), tr)
            for name, r in rs.items():
                q = fit_predict(site, r, tr, te)
                res[name].append(balanced_accuracy(y[te], q >= _threshold(r, site, y[tr])))
        base = np.array(res.get(BASELINE, []))
        out[f"k{k}"] = {n: _stats(np.array(v), base) for n, v in res.items()}
        honest: dict[str, list[float]] = {}
        _honest(site, rs, k, honest)
        out[f"k{k}"].update({n: _stats(np.array(v), None) for n, v in honest.items()})
    return out


def _stats(v: np.ndarray, base: np.ndarray | None) -> dict[str, float]:
    """Mean and sd over the draws; with ``base`` (the same draws under
    :data:`BASELINE`), the mean and sd of the paired difference."""
    d = {"mean": float(v.mean()), "sd": float(v.std()), "n_draws": int(len(v))}
    if base is not None and len(base) == len(v):
        d["diff_vs_baseline"] = float((v - base).mean())
        d["diff_sd"] = float((v - base).std())
    return d


def _threshold(recipe: tuple[str, Any], site: dict[str, Any], y_tr: np.ndarray) -> float:
    return site["thr0"] if recipe[1] is None else float(y_tr.mean())


def _honest(site: dict[str, Any], rs: dict[str, Any], k: int,
            res: dict[str, list[float]]) -> None:
    """Per-band-normalised recipes with the site statistics of the drawn recordings only
    (``bn_draws``, the first R draws): ``<name>_honest``, and the same draws with the
    whole database's statistics, ``<name>_sameR``."""
    h = site.get("bn_draws")
    if h is None or f"k{k}_idx" not in h:
        return
    y = site["y"]
    for r, (tr, z) in enumerate(zip(h[f"k{k}_idx"], h[f"k{k}_z"])):
        te = np.setdiff1d(np.arange(len(y)), tr)
        for name, rec in rs.items():
            if rec[0] != "z_bn" or any(b == "emb_bn" for b, _ in rec[1] or ()):
                continue
            for tag, s2 in (("_honest", {**site, "z_bn": z}), ("_sameR", site)):
                q = fit_predict(s2, rec, tr, te)
                res.setdefault(name + tag, []).append(
                    balanced_accuracy(y[te], q >= _threshold(rec, site, y[tr])))


#: recipe pools the nested selection chooses among: every recipe, each family (its
#: regularisation chosen inside: a name prefix), or a list (the shipped adapt with and
#: without per-band input normalisation)
POOLS: dict[str, str | tuple[str, ...]] = {
    "all": "", "adapt": "adapt", "adaptmur": "adaptmur", "bnadapt": "bnadapt",
    "head": "head", "headprof": "headprof", "adapt10_or_bn": ("adapt10", "bnadapt10")}


def _in_pool(name: str, pool: str | tuple[str, ...]) -> bool:
    if isinstance(pool, tuple):
        return name in pool
    return not pool or (name.startswith(pool) and name[len(pool):].isdigit())


def nested(sites: dict[str, Any], names: list[str], pool: str | tuple[str, ...] = ""
           ) -> dict[str, Any]:
    """Per k: each main database's score under the recipe of ``pool`` (:data:`POOLS`)
    best on the other databases, and the best recipe in hindsight (mean over the main
    databases)."""
    out: dict[str, Any] = {}
    for k in KS:
        key = f"k{k}"
        avail = [d for d, s in sites.items() if key in s]
        main = [d for d in MAIN if d in avail]
        cand = [n for n in names if all(n in sites[d][key] for d in avail)
                and not n.endswith(("_honest", "_sameR")) and _in_pool(n, pool)]
        if not main or not cand:
            continue
        mean_of = {n: float(np.mean([sites[d][key][n]["mean"] for d in main])) for n in cand}
        best = max(cand, key=mean_of.get)
        chosen, scores = {}, []
        for d in main:
            others = [o for o in avail if o != d]
            pick = max(cand, key=lambda n: np.mean([sites[o][key][n]["mean"] for o in others]))
            chosen[d] = pick
            scores.append(sites[d][key][pick]["mean"])
        out[key] = {"databases": main, "nested_mean": float(np.mean(scores)),
                    "nested_choice": chosen, "hindsight_best": best,
                    "hindsight_mean": mean_of[best], "means": mean_of}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lodo_dir")
    ap.add_argument("profiles")
    ap.add_argument("--scores", help="NPZ of scripts/site_scores.py")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--min-test", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipes", nargs="+", help="only these recipes")
    a = ap.parse_args()
    pz = np.load(a.profiles)
    prof = dict(zip(pz["ids"], pz["profiles"]))
    scores = None
    if a.scores:
        sz = np.load(a.scores)
        scores = dict(zip(sz["ids"], zip(sz["murmur"], sz["severity"])))
    rs = {n: r for n, r in recipes().items()
          if (scores is not None or all(b != "mur" for b, _ in r[1] or ()))
          and (not a.recipes or n in a.recipes)}
    d = Path(a.lodo_dir)
    sites = {db: evaluate(load_site(d, db, prof, scores), rs, a.draws, a.seed, a.min_test)
             for db in "abcdef" if (d / f"emb_{db}.npz").exists()}
    print(json.dumps({"draws": a.draws, "seed": a.seed, "min_test": a.min_test,
                      "recipes": {n: [r[0], r[1] and [list(b) for b in r[1]]]
                                  for n, r in rs.items()},
                      "nested": {p: nested(sites, list(rs), pre) for p, pre in POOLS.items()},
                      "databases": sites}, indent=1))


if __name__ == "__main__":
    main()
