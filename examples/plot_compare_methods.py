"""
Compare springer2016 and neural
===============================

Both segmenters share Springer's hidden semi-Markov duration model; they differ in how
each frame's state probabilities are estimated (logistic regression on four envelopes
for ``springer2016``, a small network for ``neural``). On a clean recording they agree;
on a noisy one the neural emissions usually hold up better (see the user guide's
segmentation page for the measured F1 on each corpus).
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
path = DATA / "pascal2011" / "setB" / "normal__170_1307970562729_B.flac"
rec = heartsound.load(path)

fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
for ax, method in zip(axes, ("springer2016", "neural")):
    seg = heartsound.segment(rec.y, rec.sr, method=method)
    iv = seg.intervals()
    print(f"{method:>12}: {len(seg.events())} sounds, {iv['n_cycles']} cycles, "
          f"heart rate {iv['heart_rate_bpm'] or float('nan'):.1f} bpm")
    heartsound.plot_segmentation(seg, rec.y, ax=ax, title=method, legend=ax is axes[0])
axes[0].set_xlim(0, 6)
fig.tight_layout()
plt.show()
