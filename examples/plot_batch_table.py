"""
Batch results into a table
==========================

:func:`heartsound.batch.run_batch` (the ``heartsound batch`` command) analyses every
audio file under a folder and writes, beside each recording's outputs, ``summary.csv``:
one row per file with its status, quality, heart rate and labels. The standard library's
``csv`` module reads it (pandas is not needed: ``pandas.read_csv`` reads it just as
well). The recordings are linked into a temporary folder; nothing is copied.
"""

import csv
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from heartsound.batch import run_batch

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
work = Path(tempfile.mkdtemp())
archive = work / "archive"
archive.mkdir()
for rel in ["physionet2016/training-a/a0008.flac", "physionet2016/training-e/e00027.flac",
            "pascal2011/setB/normal__170_1307970562729_B.flac"]:
    (archive / Path(rel).name).symlink_to(DATA / rel)

result = run_batch(archive, work / "reports", jobs=0, tasks=("abnormal", "murmur"),
                   plots=False, progress=False)
print(f"{result.n_ok} of {result.n_files} analysed")

with open(work / "reports" / "summary.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
print("columns:", ", ".join(rows[0]))
for r in rows:
    print(f"{r['path']:34} {r['status']:3} usable={r['usable']:5} "
          f"{float(r['heart_rate_bpm']):6.1f} bpm  abnormal={r['abnormal_label']}  "
          f"murmur={r['murmur_label']}")

fig, ax = plt.subplots(figsize=(7, 3))
ax.barh([r["path"] for r in rows], [float(r["heart_rate_bpm"]) for r in rows])
ax.set_xlabel("heart rate (bpm)")
fig.tight_layout()
plt.show()

shutil.rmtree(work)
