"""
Classify and read the evidence per phase
========================================

``classify`` returns a label, its probabilities and the decision it rests on (score,
threshold, the rule in words, a bootstrap interval over crops). Given the recording's
segmentation it also says where the model looked (attention share per cardiac phase) and,
with ``evidence=True``, how much the score drops when each phase is masked (occlusion).
A systolic murmur should show its evidence in systole; evidence elsewhere is a reason to
listen again, not a diagnosis.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
rec = heartsound.load(DATA / "circor2022" / "recordings" / "49574_AV.flac")
seg = heartsound.segment(rec.y, rec.sr)
res = heartsound.classify(rec.y, rec.sr, task="murmur", segmentation=seg, evidence=True)

print("label:", res.label, {k: round(v, 3) for k, v in res.probabilities.items()})
print("rule:", res.decision.rule)
print("interval:", res.decision.interval, "stability:", res.decision.stability)
attention = res.attention_by_phase(seg)
phases = ["S1", "systole", "S2", "diastole"]
evidence = res.evidence_by_phase
print("attention share:", {p: round(attention[p], 3) for p in phases})
print("score drop when masked:", {p: round(evidence[p]["drop"], 3) for p in phases})

# %%
# Left: the share of attention in each phase against the share of time the phase
# takes. Right: how much the decision score falls when that phase is masked.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.bar(phases, [attention[p] for p in phases], label="attention share")
ax1.plot(phases, [evidence[p]["time_share"] for p in phases], "ko", label="time share")
ax1.legend()
ax1.set_title("where the model looked")
ax2.bar(phases, [evidence[p]["drop"] for p in phases], color="C3")
ax2.set_title(f"drop of {evidence['score']} when masked")
fig.tight_layout()
plt.show()
