"""Issue 20's speed figures, before and after in one run, against a plain peak-picker.

For each source tree given (``--tree name=path/to/src``; default: this checkout's
``src`` as ``after``, plus ``--base`` when given as ``before``), in fresh processes with
one compute thread:

* ``batch``: ``python -m heartsound batch`` over the same CirCor recordings with
  ``--jobs 1``, with and without PNG figures; seconds of audio per CPU-second of the
  process and its worker (``RUSAGE_CHILDREN``), i.e. real time per core;
* cold start: ``python -m heartsound analyze`` on one 20 s recording, with the PNG and
  with ``--no-plots``, wall seconds (and CPU seconds), median of ``--repeats`` runs
  (trees alternated);
* ``import heartsound``: wall seconds of ``python -c "import heartsound"`` (interpreter
  start included) and the import alone (``time.perf_counter`` around it), medians.

The baseline in the same run is a plain envelope peak-picker written here, run the same
way (one fresh process over the same files): decode, 25-400 Hz Butterworth band-pass,
homomorphic envelope at 50 Hz, :func:`scipy.signal.find_peaks`, S1/S2 by interval order
(a sound followed by the shorter of its two intervals is S1).

Usage (from the repository root)::

    git worktree add ../base 57c7a77
    OMP_NUM_THREADS=1 python benchmarks/bench_speed.py --base ../base/src --n 60

Prints one JSON object; ``ratio_to_peak_picker`` is each run's audio s per CPU-s over
the peak-picker's, both with their process start (interpreter, imports, models) included
(``peak_picker.audio_s_per_cpu_s_without_start``: its loop alone).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import linked_folder, subset, timed  # noqa: E402  (same folder)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", REPO.parent / "shared" / "data"))
COLD_RECORD = "9979_PV"  # 20.3 s, a murmur finding (evidence by phase runs)

#: The peak-picker baseline, run as ``python -c PEAK_PICKER <folder>``.
PEAK_PICKER = r'''
import sys, pathlib
import numpy as np, soundfile as sf
from scipy.signal import butter, find_peaks, hilbert, resample_poly, sosfiltfilt

SR, ENV_SR = 2000, 50
BAND = butter(4, [25, 400], btype="band", fs=SR, output="sos")
LOW = butter(1, 8, fs=SR, output="sos")

def pick(y, sr):
    if sr != SR:
        y = resample_poly(y, SR, sr)
    x = sosfiltfilt(BAND, y)
    env = np.exp(sosfiltfilt(LOW, np.log(np.abs(hilbert(x)) + 1e-8)))
    env = env[:: SR // ENV_SR]
    env = (env - env.mean()) / (env.std() + 1e-12)
    peaks, _ = find_peaks(env, height=0.5, distance=int(0.2 * ENV_SR))
    t = peaks / ENV_SR
    gaps = np.diff(t)
    s1 = np.zeros(len(t), bool)
    if len(gaps) > 1:  # the shorter interval after a sound: systole, so the sound is S1
        s1[1:-1] = gaps[1:] < gaps[:-1]
        s1[0], s1[-1] = gaps[0] < gaps[1], gaps[-1] > gaps[-2]
    return t, s1

import time
t0, n = time.process_time(), 0
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.flac")):
    y, sr = sf.read(str(p), dtype="float64")
    t, s1 = pick(y, sr)
    n += len(t)
open(sys.argv[2], "w").write(f"{n} {time.process_time() - t0}")
'''


def run(cmd: list[str], src: str | None) -> dict[str, Any]:
    """:func:`bench_batch.timed` with ``PYTHONPATH=src``; ``out``: what the command
    wrote to the file named by its last argument, ``{out}``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if src is not None:
        env["PYTHONPATH"] = src
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as fh:
        r = timed([fh.name if c == "{out}" else c for c in cmd], env)
        r["out"] = fh.read().strip()
    return r


def commit_of(src: str) -> str:
    p = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], text=True,
                       capture_output=True)
    return p.stdout.strip() or "unknown"


def batch_runs(trees: dict[str, str], folder: Path, tmp: Path, audio_s: float,
               base_rate: float) -> list[dict]:
    out = []
    for plots in ("no", "yes"):
        for name, src in trees.items():
            dst = tmp / f"out_{name}_{plots}"
            cmd = [sys.executable, "-m", "heartsound", "batch", str(folder), "--out",
                   str(dst), "--jobs", "1", "--no-progress"]
            if plots == "no":
                cmd.append("--no-plots")
            r = run(cmd, src)
            r.pop("out")
            with open(dst / "summary.csv", newline="") as fh:
                n_ok = sum(row["status"] == "ok" for row in csv.DictReader(fh))
            rate = audio_s / max(r["cpu_s"], 1e-9)
            out.append({"tree": name, "plots": plots == "yes", "jobs": 1, "n_ok": n_ok, **r,
                        "audio_s_per_cpu_s": round(rate, 1),
                        "ratio_to_peak_picker": round(rate / base_rate, 3)})
    return out


def cold_runs(trees: dict[str, str], tmp: Path, repeats: int) -> dict[str, dict]:
    rec = str(DATA / "circor2022" / "recordings" / f"{COLD_RECORD}.flac")
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    imports: dict[str, list[float]] = {}
    for _ in range(repeats):  # trees alternated, so load changes hit both alike
        for name, src in trees.items():
            for plots in ("png", "no-plots"):
                cmd = [sys.executable, "-m", "heartsound", "analyze", rec, "--out",
                       str(tmp / f"cold_{name}")]
                if plots == "no-plots":
                    cmd.append("--no-plots")
                r = run(cmd, src)
                walls.setdefault((name, plots), []).append(r["wall_s"])
                cpus.setdefault((name, plots), []).append(r["cpu_s"])
            walls.setdefault((name, "import"), []).append(
                run([sys.executable, "-c", "import heartsound"], src)["wall_s"])
            r = run([sys.executable, "-c", "import sys, time; t = time.perf_counter(); "
                     "import heartsound; open(sys.argv[1], 'w').write("
                     "str(time.perf_counter() - t))", "{out}"], src)
            imports.setdefault(name, []).append(float(r["out"]))
    out: dict[str, dict] = {}
    for name in trees:
        out[name] = {
            "analyze_png_wall_s_median": statistics.median(walls[(name, "png")]),
            "analyze_png_wall_s": walls[(name, "png")],
            "analyze_no_plots_wall_s_median": statistics.median(walls[(name, "no-plots")]),
            "analyze_no_plots_wall_s": walls[(name, "no-plots")],
            # CPU s (user + sys) of the same runs: less sensitive to the shared load
            "analyze_png_cpu_s_median": statistics.median(cpus[(name, "png")]),
            "analyze_no_plots_cpu_s_median": statistics.median(cpus[(name, "no-plots")]),
            "python_c_import_heartsound_wall_s_median":
                statistics.median(walls[(name, "import")]),
            "import_heartsound_s_median": round(statistics.median(imports[name]), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="CirCor recordings for batch")
    ap.add_argument("--base", help="src folder of the code to compare with (`before`)")
    ap.add_argument("--repeats", type=int, default=5, help="cold starts per tree")
    ap.add_argument("--skip-batch", action="store_true")
    a = ap.parse_args()
    trees = {"before": str(Path(a.base).resolve())} if a.base else {}
    trees["after"] = str(REPO / "src")
    files = subset(a.n)
    import soundfile as sf

    audio_s = sum(sf.info(str(f)).duration for f in files)
    out: dict = {"benchmark": "bench_speed",
                 "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "commits": {k: commit_of(v) for k, v in trees.items()},
                 "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_avg_start": [round(x, 2) for x in os.getloadavg()],
                 "n_files": len(files), "audio_s": round(audio_s, 1)}
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp_name:
        tmp = Path(tmp_name)
        folder = linked_folder(files, tmp / "in")
        pp = run([sys.executable, "-c", PEAK_PICKER, str(folder), "{out}"], None)
        base_rate = audio_s / max(pp["cpu_s"], 1e-9)
        n_sounds, loop_cpu = pp["out"].split()
        out["peak_picker"] = {"wall_s": pp["wall_s"], "cpu_s": pp["cpu_s"],
                              "n_sounds": int(n_sounds),
                              "audio_s_per_cpu_s": round(base_rate, 1),
                              "audio_s_per_cpu_s_without_start": round(
                                  audio_s / max(float(loop_cpu), 1e-9), 1)}
        if not a.skip_batch:
            out["batch"] = batch_runs(trees, folder, tmp, audio_s, base_rate)
        out["cold_start"] = cold_runs(trees, tmp, a.repeats)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
