"""
Signal quality on artifact recordings
=====================================

PASCAL set A labels some recordings ``artifact`` (no usable heart sound: noise, speech,
rubbing). :func:`heartsound.assess` gives a verdict (``usable``), a score in [0, 1] and
one sentence per failed check; ``analyze`` marks every label of an unusable recording
``uncertain`` and does not classify a recording with no heart sounds at all.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
set_a = DATA / "pascal2011" / "setA"
files = sorted(set_a.glob("artifact__*.flac"))[:4] + sorted(set_a.glob("normal__*.flac"))[:4]

names, scores, colours = [], [], []
for path in files:
    rec = heartsound.load(path)
    q = heartsound.assess(rec.y, rec.sr)
    names.append(path.stem.replace("__", "\n"))
    scores.append(q.score)
    colours.append("C2" if q.usable else "C3")
    print(f"{path.stem:28} usable={q.usable!s:5} score={q.score:.2f} "
          f"{'; '.join(q.reasons)[:90]}")

fig, ax = plt.subplots(figsize=(10, 3.5))
ax.bar(range(len(names)), scores, color=colours)
ax.set_xticks(range(len(names)), names, fontsize=7)
ax.set_ylabel("quality score (green: usable)")
fig.tight_layout()
plt.show()
