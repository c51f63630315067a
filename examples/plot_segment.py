"""
Segment a recording and plot it
===============================

Load one CirCor recording, find its S1 and S2 with the default ``neural`` segmenter and
draw the states over the signal.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
rec = heartsound.load(DATA / "circor2022" / "recordings" / "14241_AV.flac")
seg = heartsound.segment(rec.y, rec.sr)
print(rec.sr, seg.sr, seg.intervals()["heart_rate_bpm"])
ax = heartsound.plot_segmentation(seg, rec.y)
plt.show()
