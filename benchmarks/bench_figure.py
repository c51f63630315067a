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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trees  # noqa: E402  (same folder)

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


if __name__ == "__main__":
    trees.main("bench_figure", CHILD, __doc__.split("\n")[0])
