"""
Segment a recording and plot it
===============================

Load one CirCor recording, find every S1 and S2 with the default ``neural`` segmenter
(a neural network decoded under Springer's duration model) and draw the four states over
the waveform. Sample indices of each sound are at the recording's rate ``seg.sr``.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
rec = heartsound.load(DATA / "circor2022" / "recordings" / "49574_AV.flac")
seg = heartsound.segment(rec.y, rec.sr)

s1 = seg.events()[0]
print(f"{rec.sr} Hz, {len(rec.y) / rec.sr:.1f} s, method {seg.method}")
print(f"first sound: {s1.sound} at {s1.onset_s:.3f}-{s1.offset_s:.3f} s "
      f"(samples {s1.onset}-{s1.offset})")
print("intervals:", {k: round(v, 3) if isinstance(v, float) else v
                     for k, v in seg.intervals().items()})

# %%
# The first eight seconds: S1 and S2 as bands, systole and diastole shaded.
fig, ax = plt.subplots(figsize=(10, 3))
heartsound.plot_segmentation(seg, rec.y, ax=ax, title="49574_AV (CirCor), neural")
ax.set_xlim(0, 8)
plt.show()
