"""
Compare springer2016 and neural
===============================

Both segmenters share Springer's hidden semi-Markov duration model; they differ in how
each frame's state probabilities are estimated (logistic regression on envelopes for
``springer2016``, a small network for ``neural``). Here both segment a PASCAL set A
recording (an iPhone app, 44.1 kHz, a device neither model was trained on) and are scored
against the challenge's own S1/S2 marks (a sound is found when its centre lies within
60 ms of a mark). On most clean recordings the two agree; where they differ, the neural
emissions usually hold up better (the user guide's segmentation page has the figures
over whole corpora).
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound
from heartsound.datasets.pascal2011 import read_seg
from heartsound.evaluation.segmentation import score_pascal

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
stem = "normal__201105151450"
reference = read_seg(DATA / "pascal2011")[stem]      # [(sound, time_s), ...]
rec = heartsound.load(DATA / "pascal2011" / "setA" / f"{stem}.flac")

fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
for ax, method in zip(axes, ("springer2016", "neural")):
    seg = heartsound.segment(rec.y, rec.sr, method=method)
    f1 = score_pascal(reference, seg.events(), (0.06,))[0.06]["f1"]
    print(f"{method:>12}: {len(seg.events())} sounds, "
          f"{seg.intervals()['heart_rate_bpm']:.1f} bpm, F1 {f1:.3f} against the marks")
    heartsound.plot_segmentation(seg, rec.y, ax=ax, reference=reference,
                                 title=f"{method}: F1 {f1:.2f}", legend=ax is axes[0])
fig.tight_layout()
plt.show()
