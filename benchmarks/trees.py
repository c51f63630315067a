"""Run one benchmark child in a fresh process per source tree and gather the results.

``compare_trees`` is the loop of the benchmarks that compare two trees in one run
(``--base`` as ``before``, this checkout's ``src`` as ``after``): each tree's child prints
one JSON line; the result holds the date, the load average at the start and end, and per
tree its commit and the child's JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import subset  # noqa: E402  (same folder)


def compare_trees(benchmark: str, child: str, child_args: list[str], files: list[str],
                  base: str | None) -> dict:
    """``{"benchmark", "date", "load_avg_start", "n_files", "before"?, "after",
    "load_avg_end"}``: ``python -c child *child_args *files`` run with
    ``PYTHONPATH`` each tree's ``src`` and ``OMP_NUM_THREADS=1``."""
    trees = {"before": str(Path(base).resolve())} if base else {}
    trees["after"] = str(REPO / "src")
    out: dict = {"benchmark": benchmark,
                 "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "load_avg_start": [round(x, 2) for x in os.getloadavg()], "n_files": len(files)}
    for name, src in trees.items():
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
        p = subprocess.run([sys.executable, "-c", child, *child_args, *files], env=env,
                           capture_output=True, text=True, check=True)
        commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        out[name] = {"commit": commit, **json.loads(p.stdout.strip().splitlines()[-1])}
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(benchmark: str, child: str, description: str) -> None:
    """The command line of such a benchmark: ``--n`` CirCor recordings (every k-th of
    the manifest, :func:`bench_batch.subset`), ``--repeats`` passes handed to the child,
    ``--base`` the other tree; prints :func:`compare_trees` as JSON."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--base", help="src folder of the code to compare with (`before`)")
    a = ap.parse_args()
    files = [str(f) for f in subset(400)[:: max(1, 400 // a.n)][: a.n]]
    print(json.dumps(compare_trees(benchmark, child, [str(a.repeats)], files, a.base),
                     indent=1))
