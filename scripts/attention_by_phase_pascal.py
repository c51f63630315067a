"""Attention per cardiac phase of a shipped model on PASCAL 2011 (never trained on).

Run from the repository root: ``python scripts/attention_by_phase_pascal.py [TASK]
[--root ../shared/data/pascal2011]`` (``murmur``, the default, or ``abnormal``). Prints the
median attention ratio (share of attention / share of time) per phase of the predicted
class, by set, true label and prediction; recordings heartsound rejects (too short) are
counted and skipped.
"""
import argparse
import json

import numpy as np

from heartsound.errors import HeartsoundError
from heartsound.datasets import pascal2011
from heartsound.io import load
from heartsound.segmentation import segment
from heartsound.classification.inference import classify

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("task", nargs="?", choices=("murmur", "abnormal"), default="murmur")
parser.add_argument("--root", default="../shared/data/pascal2011", help="PASCAL 2011 folder")
args = parser.parse_args()
task = args.task
positive, negative = {"murmur": ("Present", "Absent"), "abnormal": ("abnormal", "normal")}[task]
rows = []
skipped = []
for r in pascal2011.read(args.root):
    if r.label not in ("normal", "murmur"):
        continue
    try:
        rec = load(r.audio_path)
        seg = segment(rec.y, rec.sr)
        res = classify(rec.y, rec.sr, task=task, segmentation=seg)
    except HeartsoundError as e:
        skipped.append(f"{r.id}: {e}")
        continue
    ph = res.attention_by_phase(seg)
    rows.append({"id": r.id, "set": r.labels["set"], "label": r.label, "pred": res.label, **ph})
out = {}
for s in ("A", "B"):
    for lab in ("murmur", "normal"):
        for pred in (positive, negative):
            g = [x for x in rows if x["set"] == s and x["label"] == lab and x["pred"] == pred]
            if not g:
                continue
            out[f"{s}:{lab}:pred {pred}"] = {"n": len(g), **{k: round(float(np.median([x[k + '_ratio'] for x in g])), 2)
                                                           for k in ("S1", "systole", "S2", "diastole")}}
out["skipped"] = len(skipped)
print(json.dumps(out, indent=1))
