r"""A second, non-neural view of `abnormal`: gradient boosting on phase-contrast features.

Run from the repository root (after a phase-channel CV and LODO run, whose JSON files give
the network's out-of-fold probabilities for the fusion rows)::

    python scripts/abnormal_phase_contrast.py out/cv_abn_bigru_phase.json \
        out/lodo_abn_bigru_phase.json [--root ../shared/data]

Features per recording, from the cached phase-channel front end (`recording_bins`
log-Mel, 64 bands pooled to 16, and the neural segmenter's phase shares): the mean
log-Mel of frames mostly (> 50 %) in systole, S1 and S2 minus that of diastole, S1 minus
S2, the spread over systolic minus diastolic frames, and the share of frames in each
phase (84 values). Differences of log spectra within one recording cancel its device
response. Each figure is computed twice: with those 84 values (``phase_contrast``) and
with the log of the recording length added (``with_duration``, 85 values), a cue that
identifies databases, not disease.

Model: scikit-learn ``GradientBoostingClassifier`` (300 trees of depth 3, learning rate
0.05, subsample 0.8, class-balanced sample weights). Prints, as JSON, for each feature set:
the 5-fold CV AUC per fold (the same PhysioNet-only folds as the network's CV file), the
LODO AUC per held-out database (trained on the other five plus CirCor, as the network's
LODO), PASCAL 2011 normal-vs-murmur AUC per set (trained on all of PhysioNet and CirCor),
and the AUC of the equal-weight average of its probability and the network's.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

from heartsound.classification.frontend import FrontendConfig
from heartsound.classification.tasks import recording_target
from heartsound.datasets import read
from heartsound.evaluation.classification import binary_auc, lodo_folds
from heartsound.training.classifier import _grouped_folds, feature_cache

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("cv_json", help="network CV output (heartsound train classifier --cv 5 --json)")
parser.add_argument("lodo_json",
                    help="network LODO output (heartsound train classifier --lodo --json)")
parser.add_argument("--root", type=Path, default=Path("../shared/data"),
                    help="folder holding physionet2016/, circor2022/ and pascal2011/")
args = parser.parse_args()
cv_json, lodo_json, root = args.cv_json, args.lodo_json, args.root
fe = FrontendConfig(normalize="recording_bins", phase_channels=True)
recs = [r for r in read("physionet2016", root / "physionet2016")
        + read("circor2022", root / "circor2022") if recording_target("abnormal", r)]
pas = [r for r in read("pascal2011", root / "pascal2011") if r.label in ("normal", "murmur")]
feats = feature_cache(recs, fe)
feats.update(feature_cache(pas, fe))
G = 16


def contrast(x: np.ndarray, duration: bool) -> np.ndarray:
    mel = x[:, :64].reshape(len(x), G, 64 // G).mean(2)
    share = x[:, 64:]
    means = []
    for k in range(4):
        w = share[:, k] * (share[:, k] > 0.5)
        means.append((w[:, None] * mel).sum(0) / w.sum() if w.sum() > 0 else mel.mean(0))
    s1, sys_, s2, dia = means
    sd = [mel[share[:, k] > 0.5].std(0) if (share[:, k] > 0.5).sum() > 2 else np.zeros(G)
          for k in (1, 3)]
    out = [sys_ - dia, s1 - dia, s2 - dia, s1 - s2, sd[0] - sd[1], share.mean(0)]
    return np.concatenate(out + ([[np.log(len(x))]] if duration else []))


def fit(X: np.ndarray, y: np.ndarray) -> GradientBoostingClassifier:
    w = len(y) / (2.0 * np.bincount(y))
    m = GradientBoostingClassifier(n_estimators=300, learning_rate=0.05, max_depth=3,
                                   subsample=0.8, random_state=0)
    return m.fit(X, y, sample_weight=w[y])


def network(path: str) -> dict[str, float]:
    return {k: p[1] for f in json.loads(Path(path).read_text())["folds"]
            for k, p in zip(f["test_ids"], f["probs"])}


keys = [f"{r.corpus}/{r.id}" for r in recs]
y = np.array([recording_target("abnormal", r) == "abnormal" for r in recs]).astype(int)
pn = [i for i, r in enumerate(recs) if r.corpus == "physionet2016"]
cv_folds = [([pn[i] for i in tr], [pn[i] for i in te])
            for tr, te in _grouped_folds("abnormal", [recs[i] for i in pn], 5, 0)]
lodo = [(tr, [i for i in te if recs[i].corpus == "physionet2016"])
        for tr, te in lodo_folds("abnormal", recs)]
net_cv, net_lodo = network(cv_json), network(lodo_json)
yp = np.array([r.label == "murmur" for r in pas])
sets = np.array([r.labels["set"] for r in pas])
out = {}
for duration in (False, True):
    X = np.stack([contrast(feats[k], duration) for k in keys])
    Xp = np.stack([contrast(feats[f"pascal2011/{r.id}"], duration) for r in pas])
    res: dict = {"n_features": X.shape[1]}
    for name, folds, net in (("cv", cv_folds, net_cv), ("lodo", lodo, net_lodo)):
        alone, fused = [], []
        for tr, te in folds:
            p = fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
            q = np.array([net[keys[i]] for i in te])
            alone.append(round(binary_auc(y[te], p), 3))
            fused.append(round(binary_auc(y[te], 0.5 * (p + q)), 3))
        res[name] = {"auc": alone, "mean_auc": round(float(np.mean(alone)), 4),
                     "fused_auc": fused, "mean_fused_auc": round(float(np.mean(fused)), 4),
                     "network_mean_auc": round(float(np.mean(
                         [binary_auc(y[te], [net[keys[i]] for i in te]) for _, te in folds])), 4)}
    p = fit(X, y).predict_proba(Xp)[:, 1]
    res["pascal_auc"] = {s: round(binary_auc(yp[sets == s], p[sets == s]), 3) for s in "AB"}
    out["with_duration" if duration else "phase_contrast"] = res
print(json.dumps(out, indent=1))
