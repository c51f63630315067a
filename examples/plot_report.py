"""
Analyse a recording and read its report
=======================================

:func:`heartsound.analyze` runs every stage (quality, segmentation, heart rate, the
three classifiers) and returns one :class:`~heartsound.pipeline.Analysis`;
``to_dict()`` is the JSON ``heartsound analyze`` writes and :func:`heartsound.plot` the
figure of its PNG and HTML reports (see :doc:`/guide/report` for what each part
means).
"""

import io
import os
from pathlib import Path

import matplotlib.pyplot as plt

import heartsound
from heartsound import plotting

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
result = heartsound.analyze(DATA / "circor2022" / "recordings" / "49896_PV.flac")
d = result.to_dict()

print(f"usable={d['quality']['usable']} score={d['quality']['score']:.2f}",
      d["quality"]["reasons"])
print(f"heart rate {d['heart_rate_bpm']:.1f} bpm over {d['n_cycles']} cycles "
      f"({d['segmentation']['method']})")
for task, c in d["classification"].items():
    print(f"{task:9} {c['label']!s:16} {c['decision']['rule']}")

# %%
# :func:`heartsound.plot` returns a figure of its own (not managed by pyplot, so it is
# never shown by accident); here its PNG, as the report writes it, is displayed.
fig = heartsound.plot(result)
png = plotting.png_bytes(fig)
plt.figure(figsize=(11, 8.5))
plt.subplots_adjust(left=0, right=1, bottom=0, top=1)
plt.imshow(plt.imread(io.BytesIO(png)))
plt.axis("off")
plt.show()
