"""CPU cost of ``analyze`` with and without the stretches-without-signal handling, two
trees in one run.

For each source tree (``--base`` as ``before``, this checkout's ``src`` as ``after``), a
fresh process analyses ``--n`` CirCor recordings as they are (every k-th of the manifest,
as ``bench_batch.py``; they hold no such stretch, so only the search for them is added)
and the same recordings with 12 s and 10 s of zeros inserted at 1/3 and 2/3 (in memory),
after one warm-up analysis (model loading); CPU ms per recording, median of
``--repeats`` passes, ``evidence=True`` (the default).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_silent_gaps.py --base ../base/src --n 8

Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trees  # noqa: E402  (same folder)

#: Run in each tree's process: ``python -c CHILD repeats file...``; prints JSON.
CHILD = r'''
import json, statistics, sys, time
import numpy as np
from heartsound.io import load
from heartsound.pipeline import analyze
repeats, files = int(sys.argv[1]), sys.argv[2:]
recs = [load(f) for f in files]
def gapped(y, sr):
    n = len(y)
    return np.concatenate([y[:n // 3], np.zeros(12 * sr), y[n // 3:2 * n // 3],
                           np.zeros(10 * sr), y[2 * n // 3:]])
sets = {"plain": [(np.asarray(r.y, np.float64), r.sr) for r in recs]}
sets["gapped"] = [(gapped(y, sr), sr) for y, sr in sets["plain"]]
analyze(*sets["plain"][0][:1], sr=sets["plain"][0][1])  # warm-up: models loaded
out = {}
for name, items in sets.items():
    passes = []
    for _ in range(repeats):
        t = time.process_time()
        for y, sr in items:
            analyze(y, sr=sr)
        passes.append((time.process_time() - t) / len(items) * 1e3)
    out[name + "_cpu_ms"] = round(statistics.median(passes), 1)
    out[name + "_passes_ms"] = [round(p, 1) for p in passes]
print(json.dumps(out))
'''


if __name__ == "__main__":
    trees.main("bench_silent_gaps", CHILD, __doc__.split("\n")[0])
