"""
Evaluate a segmenter against CirCor annotations
===============================================

CirCor ships a ``.tsv`` beside most recordings (``start_s, end_s, state``). A decoded
sound counts as found when its centre lies within a tolerance of an annotated sound's
centre; the scores are sensitivity, positive predictive value and F1 per sound type.
``heartsound evaluate segmentation`` does this over a whole corpus, with patient-grouped
folds.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound
from heartsound.datasets.circor2022 import read_tsv
from heartsound.evaluation.segmentation import score_circor

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
recordings = DATA / "circor2022" / "recordings"
stems = ["49574_AV", "50053_PV", "49896_PV"]
tolerances = (0.05, 0.1)

f1 = {m: [] for m in ("springer2016", "neural")}
for stem in stems:
    rec = heartsound.load(recordings / f"{stem}.flac")
    rows = read_tsv(recordings / f"{stem}.tsv")
    for method in f1:
        seg = heartsound.segment(rec.y, rec.sr, method=method)
        scores = score_circor(rows, seg.events(), tolerances)
        f1[method].append(scores[0.05]["f1"])
        print(stem, method, {t: round(s["f1"], 3) for t, s in scores.items()})

fig, ax = plt.subplots(figsize=(7, 3.5))
for i, (method, values) in enumerate(f1.items()):
    ax.bar([k + 0.4 * i for k in range(len(stems))], values, width=0.4, label=method)
ax.set_xticks([k + 0.2 for k in range(len(stems))], stems)
ax.set_ylabel("F1 at 50 ms")
ax.set_ylim(0, 1.05)
ax.legend()
fig.tight_layout()
plt.show()
