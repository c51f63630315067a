"""
Streaming with heartsound.Stream
================================

:class:`heartsound.Stream` takes audio in chunks (here 100 ms, as a microphone would
deliver it) and returns each S1 and S2 once it is confirmed, a fixed lag after the
sound ends (``lag_s``, 0.26 s by default, plus up to one 0.8 s block), with the
current heart rate and signal quality.
``heartsound listen`` is the same loop on the command line.

The first sounds wait for the front end's warm-up (its running normalisation needs about
2 s of audio), so they come out later; the heart rate is known from 3 s of audio on.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
rec = heartsound.load(DATA / "physionet2016" / "training-a" / "a0008.flac")
stream = heartsound.Stream(rec.sr)
chunk = rec.sr // 10

events, rate_t, rate_bpm = [], [], []
for i in range(0, len(rec.y), chunk):
    events += stream.push(rec.y[i:i + chunk])
    hr = stream.heart_rate()
    if hr.bpm is not None:
        rate_t.append(stream.time_s)
        rate_bpm.append(hr.bpm)
events += stream.flush()

lags = np.array([e.emitted_at_s - e.offset_s for e in events])
print(f"{len(events)} sounds; emitted a median {np.median(lags):.2f} s after they end "
      f"(90th percentile {np.percentile(lags, 90):.2f} s)")
print("final heart rate:", stream.heart_rate(), "quality:", stream.quality().label)
offline = heartsound.segment(rec.y, rec.sr)
print(f"offline: {len(offline.events())} sounds, "
      f"{offline.intervals()['heart_rate_bpm']:.1f} bpm")

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
for sound, colour in (("S1", "C0"), ("S2", "C1")):
    mine = [e for e in events if e.sound == sound]
    ax1.plot([e.offset_s for e in mine], [e.emitted_at_s - e.offset_s for e in mine], "o",
             color=colour, label=sound, ms=4)
ax1.set_ylabel("emitted after its end (s)")
ax1.set_title("when each sound was confirmed, and the heart rate known at each moment")
ax1.legend()
ax2.plot(rate_t, rate_bpm)
ax2.set_ylabel("live heart rate (bpm)")
ax2.set_xlabel("stream time (s)")
fig.tight_layout()
plt.show()
