"""CPU cost of one report figure (``heartsound.plotting.figure_png``), two trees in one run.

For each source tree (``--base`` as ``before``, this checkout's ``src`` as ``after``), a
fresh process analyses ``--n`` CirCor recordings (every k-th of the manifest, as
``bench_batch.py``), draws one figure (``first_figure_cpu_ms``: the renderer's imports,
fonts and first draw included), then times ``figure_png`` over the analyses (CPU ms per
figure, median of ``--repeats`` passes). ``png_encode_cpu_ms``: the PNG encoding alone
of one such image by the tree's writer (the raster's, else Pillow's at zlib level 3 as
matplotlib calls it); ``matplotlib_imported``: whether drawing the
figures imported matplotlib.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_figure.py --base ../base/src --n 8

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import subset  # noqa: E402  (same folder)

REPO = Path(__file__).resolve().parents[1]

#: Run in each tree's process: ``python -c CHILD n repeats file...``; prints JSON.
CHILD = r'''
import io, json, statistics, sys, time
from heartsound.pipeline import analyze
repeats, files = int(sys.argv[1]), sys.argv[2:]
an = [analyze(f) for f in files]
ds = [a.to_dict() for a in an]
t = time.process_time()
from heartsound.plotting import figure_png
png = figure_png(an[0], data=ds[0])
first = time.process_time() - t
passes = []
for _ in range(repeats):
    t = time.process_time()
    for a, d in zip(an, ds):
        png = figure_png(a, data=d)
    passes.append((time.process_time() - t) / len(an) * 1e3)
out = {"figure_png_cpu_ms": round(statistics.median(passes), 1),
       "passes_ms": [round(p, 1) for p in passes],
       "first_figure_cpu_ms": round(first * 1e3, 1),
       "matplotlib_imported": "matplotlib" in sys.modules, "png_bytes": len(png)}
from PIL import Image
im = Image.open(io.BytesIO(png)).convert("RGB")
try:  # the tree's own PNG writer (the raster's), else Pillow's as matplotlib calls it
    from heartsound.plotting.raster import Canvas
    canvas = Canvas(*im.size, 90)
    canvas.image = im
    encode = canvas.png
except ImportError:
    encode = lambda: im.save(io.BytesIO(), format="png", compress_level=3)
t = time.process_time()
for _ in range(5):
    encode()
out["png_encode_cpu_ms"] = round((time.process_time() - t) / 5 * 1e3, 1)
print(json.dumps(out))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--base", help="src folder of the code to compare with (`before`)")
    a = ap.parse_args()
    trees = {"before": str(Path(a.base).resolve())} if a.base else {}
    trees["after"] = str(REPO / "src")
    files = [str(f) for f in subset(400)[:: max(1, 400 // a.n)][: a.n]]
    out: dict = {"benchmark": "bench_figure",
                 "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "load_avg_start": [round(x, 2) for x in os.getloadavg()], "n_files": len(files)}
    for name, src in trees.items():
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
        p = subprocess.run([sys.executable, "-c", CHILD, str(a.repeats), *files], env=env,
                           capture_output=True, text=True, check=True)
        commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        out[name] = {"commit": commit, **json.loads(p.stdout.strip().splitlines()[-1])}
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
