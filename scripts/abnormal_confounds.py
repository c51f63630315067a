"""Where the `abnormal` errors are, and what besides the heart can separate the labels.

Run from the repository root::

    python scripts/abnormal_confounds.py out/cv_abn_bigru_phase.json [--root ../shared/data]

The JSON is the output of ``heartsound train classifier --task abnormal ... --cv 5 --json``
(PhysioNet 2016 only). Prints, as JSON:

* ``cv_by_database``: for each PhysioNet database, the recordings, the share abnormal, the
  ROC AUC of the out-of-fold P(abnormal) within that database, and sensitivity,
  specificity and MAcc of the fold rules' decisions;
* ``duration_auc``: ROC AUC of the recording duration alone as an abnormal score, over
  PhysioNet, per database, and for normal vs murmur in PASCAL 2011 sets A and B (a score
  that knows nothing about the heart);
* ``database_e_spectrum``: median relative power (dB, Welch, each recording's spectrum
  normalised to unit total power) of database e's abnormal and normal recordings in
  frequency bands: a recording-chain difference between the two classes;
* ``other_tasks_auc``: the shipped `murmur` model's P(Present) and the shipped `severity`
  model's 1 - P(normal), both trained on CirCor only, as abnormal scores per PhysioNet
  database (does murmur evidence learnt elsewhere transfer?).
"""
import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import welch

from heartsound.classification.inference import classify_all
from heartsound.classification.tasks import recording_target
from heartsound.datasets import read
from heartsound.evaluation.classification import binary_auc
from heartsound.evaluation.metrics import sensitivity_specificity
from heartsound.io import load

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("cv_json", help="output of heartsound train classifier --task abnormal "
                                    "--cv 5 --json (PhysioNet 2016 only)")
parser.add_argument("--root", type=Path, default=Path("../shared/data"),
                    help="folder holding physionet2016/ and pascal2011/")
args = parser.parse_args()
cv = json.loads(Path(args.cv_json).read_text())
keys, prob, truth, pred = [], [], [], []
for f in cv["folds"]:
    keys += f["test_ids"]
    prob += [p[1] for p in f["probs"]]
    truth += f["truth"]
    pred += f["pred"]
y = np.array([t == "abnormal" for t in truth])
yp = np.array([p == "abnormal" for p in pred])
prob = np.array(prob)
db = np.array([k.split("/")[1][0] for k in keys])
by_db = {}
for d in sorted(set(db)):
    m = db == d
    se, sp = sensitivity_specificity(y[m], yp[m], positive=True)
    by_db[d] = {"n": int(m.sum()), "abnormal_share": round(float(y[m].mean()), 3),
                "auc": round(binary_auc(y[m], prob[m]), 3), "sensitivity": round(se, 3),
                "specificity": round(sp, 3), "macc": round((se + sp) / 2, 3),
                "errors": int((yp[m] != y[m]).sum())}

root = args.root
pn = [r for r in read("physionet2016", root / "physionet2016")
      if recording_target("abnormal", r) is not None]
dur = np.array([sf.info(str(r.audio_path)).duration for r in pn])
ab = np.array([recording_target("abnormal", r) == "abnormal" for r in pn])
pdb = np.array([r.labels["database"] for r in pn])
duration = {"physionet2016": round(binary_auc(ab, dur), 3)}
for d in sorted(set(pdb)):
    m = pdb == d
    duration[f"physionet2016_{d}"] = round(binary_auc(ab[m], dur[m]), 3)
pas = [r for r in read("pascal2011", root / "pascal2011") if r.label in ("normal", "murmur")]
for s in "AB":
    sub = [r for r in pas if r.labels["set"] == s]
    duration[f"pascal2011_{s}"] = round(binary_auc([r.label == "murmur" for r in sub],
                                                   [float(r.labels["duration_s"]) for r in sub]), 3)

bands = [(0, 25), (25, 50), (50, 100), (100, 200), (200, 400), (400, 600), (600, 1000)]
spec: dict[bool, list] = {True: [], False: []}
for r, a in zip(pn, ab):
    if r.labels["database"] != "e":
        continue
    x, sr = sf.read(str(r.audio_path))
    f, p = welch(x, sr, nperseg=512)
    rel = 10 * np.log10(p / p.sum() + 1e-20)
    spec[bool(a)].append([rel[(f >= lo) & (f < hi)].mean() for lo, hi in bands])
e_spec = {f"{lo}-{hi} Hz": {"abnormal_db": round(float(np.median(np.array(spec[True])[:, i])), 1),
                            "normal_db": round(float(np.median(np.array(spec[False])[:, i])), 1)}
          for i, (lo, hi) in enumerate(bands)}
murmur, severity = [], []
for r in pn:
    rec = load(r.audio_path, min_duration_s=0.0)
    res = classify_all(rec.y, rec.sr)
    murmur.append(res["murmur"].probabilities["Present"])
    severity.append(1 - res["severity"].probabilities["normal"])
murmur, severity = np.array(murmur), np.array(severity)
other = {d: {"murmur_present": round(binary_auc(ab[pdb == d], murmur[pdb == d]), 3),
             "severity_not_normal": round(binary_auc(ab[pdb == d], severity[pdb == d]), 3)}
         for d in sorted(set(pdb))}
print(json.dumps({"cv_file": args.cv_json, "cv_by_database": by_db, "duration_auc": duration,
                  "database_e_spectrum": e_spec, "other_tasks_auc": other}, indent=1))
