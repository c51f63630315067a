"""
Heart rate over time
====================

The reported heart rate is 60 / the median decoded cardiac cycle. The cycles themselves
(S1 onset, S2 onset, next S1 onset) give the rate beat by beat and the systolic and
diastolic intervals over the whole recording.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
rec = heartsound.load(DATA / "physionet2016" / "training-a" / "a0001.flac")
seg = heartsound.segment(rec.y, rec.sr)

cycles = np.array(seg.cycles())  # (s1_onset_s, s2_onset_s, next_s1_onset_s) per cycle
rr = cycles[:, 2] - cycles[:, 0]
systole = cycles[:, 1] - cycles[:, 0]
print(f"{len(cycles)} cycles; median {seg.intervals()['heart_rate_bpm']:.1f} bpm; "
      f"beat-to-beat range {60 / rr.max():.0f}-{60 / rr.min():.0f} bpm")

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
ax1.plot(cycles[:, 0], 60 / rr, "o-")
ax1.axhline(seg.intervals()["heart_rate_bpm"], color="k", ls="--", label="reported (median)")
ax1.set_ylabel("heart rate (bpm)")
ax1.legend()
ax2.plot(cycles[:, 0], systole, "o-", label="systole (S1 to S2 onset)")
ax2.plot(cycles[:, 0], rr - systole, "o-", label="diastole (S2 to next S1 onset)")
ax2.set_ylabel("interval (s)")
ax2.set_xlabel("time of the cycle's S1 (s)")
ax2.legend()
fig.tight_layout()
plt.show()
