"""``heartsound segment``'s PNG (issue 20): cold start with and without it, and the
figure's own cost, before and after in one run.

For each source tree (``--base`` as ``before``, this checkout's ``src`` as ``after``),
in fresh processes with one compute thread, on one 20 s CirCor recording
(:data:`bench_speed.COLD_RECORD`):

* cold start: ``python -m heartsound segment FILE`` with the PNG and with ``--no-plot``,
  wall and CPU seconds, median of ``--repeats`` runs (trees and modes alternated);
* the figure alone, in one process per tree after the segmentation: CPU ms of the first
  PNG (its imports included) and the median of ``--warm`` more (``segmentation_png``
  where the tree has it, else matplotlib's ``segmentation_figure`` through
  ``png_bytes``), and the PNG's size.

Usage (from the repository root)::

    git clone . ../base && git -C ../base checkout <commit>
    OMP_NUM_THREADS=1 python benchmarks/bench_segment_png.py --base ../base/src

Prints one JSON object with the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import COLD_RECORD, DATA, REPO, commit_of, run  # noqa: E402  (same folder)

#: The figure alone, run as ``python -c FIGURE <file> <warm> <out>``.
FIGURE = r'''
import json, statistics, sys, time
from heartsound.io import load
from heartsound.segmentation import segment
rec = load(sys.argv[1])
seg = segment(rec.y, rec.sr)
try:
    from heartsound.segmentation.plot import segmentation_png
    draw, how = lambda: segmentation_png(rec.y, rec.sr, seg, title="x"), "pillow"
except ImportError:
    from heartsound.plotting import png_bytes
    from heartsound.segmentation.plot import segmentation_figure
    draw = lambda: png_bytes(segmentation_figure(rec.y, rec.sr, seg, title="x"))
    how = "matplotlib"
t = time.process_time()
png = draw()
first = time.process_time() - t
warm = []
for _ in range(int(sys.argv[2])):
    t = time.process_time()
    png = draw()
    warm.append(time.process_time() - t)
open(sys.argv[3], "w").write(json.dumps({
    "renderer": how, "first_cpu_ms": round(1e3 * first, 1),
    "warm_cpu_ms_median": round(1e3 * statistics.median(warm), 1),
    "png_bytes": len(png), "matplotlib_imported": "matplotlib" in sys.modules}))
'''


def cold_runs(trees: dict[str, str], rec: str, tmp: Path, repeats: int) -> dict[str, dict]:
    """Median wall and CPU s of ``segment`` per tree, with the PNG and ``--no-plot``."""
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for name, src in trees.items():
            for mode in ("png", "no-plot"):
                cmd = [sys.executable, "-m", "heartsound", "segment", rec, "--out",
                       str(tmp / f"out_{name}")] + (["--no-plot"] if mode == "no-plot" else [])
                r = run(cmd, src)
                walls.setdefault((name, mode), []).append(r["wall_s"])
                cpus.setdefault((name, mode), []).append(r["cpu_s"])
    out: dict[str, dict] = {}
    for name in trees:
        out[name] = {}
        for mode in ("png", "no-plot"):
            out[name][f"{mode}_wall_s_median"] = statistics.median(walls[(name, mode)])
            out[name][f"{mode}_wall_s"] = walls[(name, mode)]
            out[name][f"{mode}_cpu_s_median"] = statistics.median(cpus[(name, mode)])
        out[name]["png_minus_no_plot_wall_s"] = round(
            out[name]["png_wall_s_median"] - out[name]["no-plot_wall_s_median"], 3)
        out[name]["png_minus_no_plot_cpu_s"] = round(
            out[name]["png_cpu_s_median"] - out[name]["no-plot_cpu_s_median"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="src folder of the `before` code")
    ap.add_argument("--repeats", type=int, default=5, help="cold starts per tree and mode")
    ap.add_argument("--warm", type=int, default=10, help="warm figures per tree")
    a = ap.parse_args()
    trees = {"before": str(Path(a.base).resolve()), "after": str(REPO / "src")}
    rec = str(DATA / "circor2022" / "recordings" / f"{COLD_RECORD}.flac")
    out: dict = {"benchmark": "bench_segment_png",
                 "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "commits": {k: commit_of(v) for k, v in trees.items()},
                 "python": platform.python_version(), "cpus": os.cpu_count(),
                 "record": COLD_RECORD,
                 "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench_segment_png_") as tmp_name:
        tmp = Path(tmp_name)
        out["cold_start"] = cold_runs(trees, rec, tmp, a.repeats)
        out["figure"] = {name: json.loads(run([sys.executable, "-c", FIGURE, rec,
                                               str(a.warm), "{out}"], src)["out"])
                         for name, src in trees.items()}
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
