"""End-to-end throughput of ``heartsound batch`` on a fixed subset of CirCor recordings.

Runs ``python -m heartsound batch`` in a fresh process for each configuration (``--jobs``
1 and 2, with and without plots) on the same recordings, and measures wall time and the CPU
time of the process and all its workers (``RUSAGE_CHILDREN``). The figure of merit is
seconds of audio analysed per CPU-second (the real-time factor per core). The baseline in
the same run is the cost of only decoding the same files (``heartsound.io.load``), in a
fresh process too.

The subset: every k-th recording of ``circor2022/manifest.tsv`` (in its order) so that
``--n`` recordings spread over the patients; they are symlinked into a temporary folder.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_batch.py --n 100 > out/bench_batch.json

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", REPO.parent / "shared" / "data"))


def subset(n: int) -> list[Path]:
    rec = DATA / "circor2022" / "recordings"
    with open(DATA / "circor2022" / "manifest.tsv", newline="") as fh:
        names = [r["record"] for r in csv.DictReader(fh, delimiter="\t")]
    step = max(1, len(names) // n)
    return [rec / f"{s}.flac" for s in names[::step][:n]]


def linked_folder(files: list[Path], folder: Path) -> Path:
    """``folder`` made and filled with symbolic links to ``files`` (the corpus stays read-only
    and is never copied)."""
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(Path(f).resolve())
    return folder


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "returncode": p.returncode}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], text=True,
                              capture_output=True).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="recordings in the subset")
    ap.add_argument("--jobs", default="1,2", help="comma-separated --jobs values")
    ap.add_argument("--method", default="neural")
    ap.add_argument("--plots", default="no,yes", help="no,yes | no | yes")
    a = ap.parse_args()

    files = subset(a.n)
    import soundfile as sf

    audio_s = sum(sf.info(str(f)).duration for f in files)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out: dict = {"benchmark": "bench_batch", "date": dt.datetime.now(dt.timezone.utc)
                 .strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(),
                 "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_avg_1min": round(os.getloadavg()[0], 2), "n_files": len(files),
                 "audio_s": round(audio_s, 1), "method": a.method, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        src = linked_folder(files, Path(tmp) / "in")
        base = timed([sys.executable, "-c",
                      "import sys, pathlib; from heartsound.io import load\n"
                      "[load(p) for p in sorted(pathlib.Path(sys.argv[1]).glob('*.flac'))]",
                      str(src)], env)
        base["audio_s_per_cpu_s"] = round(audio_s / max(base["cpu_s"], 1e-9), 1)
        out["baseline_load_only"] = base
        for plots in a.plots.split(","):
            for jobs in (int(j) for j in a.jobs.split(",")):
                dst = Path(tmp) / f"out_{jobs}_{plots}"
                cmd = [sys.executable, "-m", "heartsound", "batch", str(src), "--out", str(dst),
                       "--jobs", str(jobs), "--method", a.method, "--no-progress"]
                if plots == "no":
                    cmd.append("--no-plots")
                r = timed(cmd, env)
                with open(dst / "summary.csv", newline="") as fh:
                    rows = list(csv.DictReader(fh))
                methods = sorted({x["segmentation_method"] for x in rows if x["status"] == "ok"})
                r.update({"jobs": jobs, "plots": plots == "yes",
                          "n_ok": sum(x["status"] == "ok" for x in rows),
                          "segmentation_methods": methods,
                          "classifiers_ran": sorted({k[:-6] for x in rows for k, v in x.items()
                                                     if k.endswith("_label") and v
                                                     and v != "unavailable"}),
                          "audio_s_per_cpu_s": round(audio_s / max(r["cpu_s"], 1e-9), 1),
                          "audio_s_per_wall_s": round(audio_s / max(r["wall_s"], 1e-9), 1)})
                out["runs"].append(r)
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
