"""Scores of the shipped CirCor-only models (``murmur`` P(Present), ``severity``
P(mild or worse)) on every PhysioNet 2016 recording: features for site adaptation of the
``abnormal`` task that no PhysioNet recording was trained on.

    python scripts/site_scores.py [--data ../shared/data] [--out out/site_scores.npz]

Writes ``ids`` (``physionet2016/<id>``), ``murmur`` [n], ``severity`` [n]; prints a JSON
summary (AUC of each score for abnormal per database).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from heartsound.classification import classify
from heartsound.datasets import read
from heartsound.evaluation.classification import binary_auc
from heartsound.frontend import Frontend
from heartsound.io import load
from heartsound.segmentation import segment
from heartsound.training.classifier.data import record_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--out", default="out/site_scores.npz")
    a = ap.parse_args()
    recs = read("physionet2016", Path(a.data) / "physionet2016")
    ids, mur, sev = [], [], []
    for r in recs:
        rec = load(r.audio_path, min_duration_s=0.0)
        fe = Frontend(rec.y, rec.sr, source=str(r.audio_path))
        seg = segment(rec.y, rec.sr, frontend=fe)
        m = classify(rec.y, rec.sr, task="murmur", frontend=fe, segmentation=seg)
        s = classify(rec.y, rec.sr, task="severity", frontend=fe, segmentation=seg)
        ids.append(record_key(r))
        mur.append(m.probabilities["Present"])
        sev.append(1.0 - s.probabilities["normal"])
    np.savez(a.out, ids=np.array(ids), murmur=np.array(mur), severity=np.array(sev))
    y = np.array([r.label == "abnormal" for r in recs])
    db = np.array([r.labels["database"] for r in recs])
    print(json.dumps({t: {d: binary_auc(y[db == d], np.array(v)[db == d])
                          for d in sorted(set(db))}
                      for t, v in (("murmur", mur), ("severity", sev))}, indent=1))


if __name__ == "__main__":
    main()
