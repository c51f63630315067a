"""``heartsound batch`` under faults: corrupt files, a worker killed mid-run, a second
batch on the same folder, the batch itself killed, and resuming.

Builds a temporary folder of ``--n`` synthetic PCG recordings (``--seconds`` s at 2 kHz,
half FLAC, half WAV, heart rates 55-110 bpm, one with a name that is not UTF-8), replaces
``--corrupt`` (a share) of them with bad files of several kinds (text, truncated FLAC,
0 bytes, random bytes, a header only, too short, silent, NaN samples), adds a few
non-audio files, then runs ``python -m heartsound batch`` in a fresh process:

1. ``full``: the whole folder with ``--jobs 2``; when ``--kill-at`` (a share) of the
   files are done, the harness sends SIGKILL to one worker process (as the OOM killer
   would) and starts a second batch on the same output folder (it must be refused).
   Checked: every good file ``ok`` with its heart rate within 5 bpm of the truth, every
   bad one ``error``, one CSV row per file, none ``pending``.
2. ``resume``: the same command again: nothing is analysed, the CSV is unchanged.
3. ``killed_batch``: the first ``--n-killed`` files into a fresh folder; the batch process
   itself is killed with SIGKILL after a third of them; the CSV left behind is compared
   with the JSON files, then the command is run again to finish.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_batch_faults.py --n 1000 > out/faults.json

Prints one JSON object. Linux only (the workers are found through ``/proc``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from heartsound.batch_pool import worker_pids

REPO = Path(__file__).resolve().parents[1]
SR = 2000
BAD_KINDS = ("text", "truncated", "empty", "random", "header_only", "too_short", "silent",
             "nan")


def pcg(rng: np.random.Generator, seconds: float, bpm: float) -> np.ndarray:
    """Synthetic PCG: S1 (60 Hz) and S2 (90 Hz, 0.3 s later) bursts at ``bpm`` in noise."""
    y = rng.normal(0, 0.01, int(seconds * SR))
    k = np.arange(int(0.04 * SR))
    for t0 in np.arange(0.15, seconds - 0.4, 60 / bpm):
        for dt_, f, amp in ((0.0, 60.0, 0.8), (0.3, 90.0, 0.5)):
            i = int((t0 + dt_) * SR)
            y[i:i + k.size] += amp * np.hanning(k.size) * np.sin(2 * np.pi * f * k / SR)
    return y


def write_bad(path: Path, kind: str, good: bytes, rng: np.random.Generator) -> None:
    """One bad file of ``kind`` at ``path`` (``good``: the bytes of a good FLAC)."""
    if kind == "text":
        path.write_text("not audio at all\n")
    elif kind == "truncated":
        path.write_bytes(good[:300])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "header_only":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28))
    elif kind == "too_short":
        sf.write(os.fsencode(path), pcg(rng, 0.5, 80.0), SR)
    elif kind == "silent":
        sf.write(os.fsencode(path), np.zeros(4 * SR), SR)
    else:  # nan
        y = pcg(rng, 4.0, 80.0)
        y[1000:1010] = np.nan
        sf.write(os.fsencode(path), y, SR, format="WAV", subtype="FLOAT")  # any name


def build(root: Path, n: int, seconds: float, corrupt: float, seed: int
          ) -> dict[str, float | None]:
    """The input folder; returns relative path (str, PEP 383) -> true bpm (None if bad)."""
    rng = np.random.default_rng(seed)
    n_bad = int(round(n * corrupt))
    bad = set(rng.choice(n, n_bad, replace=False).tolist())
    truth: dict[str, float | None] = {}
    for i in range(n):
        sub = root / f"site{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        name = f"rec{i:04d}.{'flac' if i % 2 else 'wav'}"
        if i == 1 and i not in bad:
            name = os.fsdecode(b"r\xe9c\xe9pteur-0001.flac")  # latin-1: not UTF-8
        path = sub / name
        bpm = float(rng.uniform(55, 110))
        y = pcg(rng, seconds, bpm)
        if i in bad:
            buf = Path(tempfile.mkstemp(suffix=".flac")[1])
            sf.write(str(buf), y, SR)
            write_bad(path, BAD_KINDS[len([b for b in truth.values() if b is None])
                                      % len(BAD_KINDS)], buf.read_bytes(), rng)
            buf.unlink()
            truth[str(path.relative_to(root))] = None
        else:
            sf.write(os.fsencode(path), y, SR)
            truth[str(path.relative_to(root))] = bpm
    for j in range(4):
        (root / f"site{j}" / "README.txt").write_text("notes, not audio\n")
    return truth


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def n_json(out: Path) -> int:
    return sum(1 for _ in out.rglob("*.heartsound.json"))


def batch_cmd(src: Path, out: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "heartsound", "batch", str(src), "--out", str(out),
            "--jobs", str(jobs), "--no-plots", "--no-progress"]


def check(rows: dict[str, dict[str, str]], truth: dict[str, float | None]) -> dict:
    """How the summary compares with the truth."""
    good = [p for p, b in truth.items() if b is not None]
    bad = [p for p, b in truth.items() if b is None]
    hr_err = [abs(float(rows[p]["heart_rate_bpm"]) - truth[p]) for p in good
              if p in rows and rows[p]["status"] == "ok" and rows[p]["heart_rate_bpm"]]
    return {
        "rows": len(rows), "audio_rows": sum(p in rows for p in truth),
        "skipped_rows": sum(r["status"] == "skipped" for r in rows.values()),
        "pending_rows": sum(r["status"] == "pending" for r in rows.values()),
        "good_ok": sum(rows.get(p, {}).get("status") == "ok" for p in good),
        "n_good": len(good),
        "bad_recorded_error": sum(rows.get(p, {}).get("status") == "error" for p in bad),
        "n_bad": len(bad),
        "bad_errors": sorted({rows[p]["error"].split(": ", 1)[-1].split(" (")[0]
                              for p in bad if p in rows}),
        "heart_rate_within_5_bpm": sum(e <= 5 for e in hr_err),
        "heart_rate_median_abs_error_bpm": round(float(np.median(hr_err)), 2) if hr_err
        else None,
    }


def run_full(src: Path, out: Path, jobs: int, kill_at: float, n_audio: int) -> dict:
    """Phase 1: the whole folder, one worker SIGKILLed, a second batch refused."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    p = subprocess.Popen(batch_cmd(src, out, jobs), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="backslashreplace")
    kill: dict = {}
    while p.poll() is None:
        if not kill and n_json(out) >= kill_at * n_audio and worker_pids(p.pid):
            pid = worker_pids(p.pid)[0]
            os.kill(pid, signal.SIGKILL)
            kill = {"at_s": round(time.perf_counter() - t0, 2), "json_done": n_json(out)}
            second = subprocess.run(batch_cmd(src, out, 1), env=env, capture_output=True,
                                    text=True, errors="backslashreplace")
            kill["second_batch_exit"] = second.returncode
            kill["second_batch_message"] = second.stderr.strip()[-300:]
        time.sleep(0.05)
    stdout, stderr = p.communicate()
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 1), "exit_code": p.returncode, "worker_kill": kill,
            "stdout": stdout.strip(),
            "worker_death_warnings": [ln for ln in stderr.splitlines() if "warning" in ln]}


def run_killed_batch(src: Path, out: Path, jobs: int, n: int) -> dict:
    """Phase 3: kill the batch process itself, compare its CSV with the JSON, resume."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(batch_cmd(src, out, jobs), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while p.poll() is None and n_json(out) < n // 3:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(3)  # workers finish the file they hold, then see the batch is gone
    rows = read_csv(out / "summary.csv")
    stems = {str(j.relative_to(out)).removesuffix(".heartsound.json")
             for j in out.rglob("*.heartsound.json")}
    ok = {str(Path(r).with_suffix("")) for r, v in rows.items() if v["status"] == "ok"}
    left = {"rows": len(rows), "ok_rows": len(ok), "json_files": len(stems),
            "ok_rows_without_json": len(ok - stems), "json_without_ok_row": len(stems - ok),
            "pending_rows": sum(v["status"] == "pending" for v in rows.values())}
    t0 = time.perf_counter()
    r = subprocess.run(batch_cmd(src, out, jobs), env=env, capture_output=True, text=True,
                       errors="backslashreplace")
    rows = read_csv(out / "summary.csv")
    return {"left_behind": left, "resume_wall_s": round(time.perf_counter() - t0, 1),
            "resume_exit_code": r.returncode, "resume_stdout": r.stdout.strip(),
            "pending_after_resume": sum(v["status"] == "pending" for v in rows.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="recordings")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each recording")
    ap.add_argument("--corrupt", type=float, default=0.02, help="share of bad files")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--kill-at", type=float, default=0.4,
                    help="share of files done when a worker is killed")
    ap.add_argument("--n-killed", type=int, default=150,
                    help="files of the phase where the batch itself is killed (0: skip)")
    ap.add_argument("--seed", type=int, default=15)
    a = ap.parse_args()

    res: dict = {"benchmark": "bench_batch_faults",
                 "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                                          capture_output=True, text=True).stdout.strip(),
                 "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_avg_1min": round(os.getloadavg()[0], 2), "n": a.n,
                 "seconds": a.seconds, "corrupt": a.corrupt, "jobs": a.jobs}
    with tempfile.TemporaryDirectory(prefix="bench_faults_") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        truth = build(src, a.n, a.seconds, a.corrupt, a.seed)
        res["audio_s"] = round(sum(a.seconds for b in truth.values() if b is not None), 1)
        full = run_full(src, out, a.jobs, a.kill_at, len(truth))
        rows = read_csv(out / "summary.csv")
        full["summary"] = check(rows, truth)
        full["audio_s_per_wall_s"] = round(res["audio_s"] / full["wall_s"], 1)
        res["full"] = full
        t0 = time.perf_counter()
        r = subprocess.run(batch_cmd(src, out, a.jobs), capture_output=True, text=True,
                           errors="backslashreplace")
        res["resume"] = {"wall_s": round(time.perf_counter() - t0, 1),
                         "exit_code": r.returncode, "stdout": r.stdout.strip(),
                         "csv_unchanged": read_csv(out / "summary.csv") == rows}
        if a.n_killed:
            small = Path(tmp) / "small"
            for rel in list(truth)[:a.n_killed]:
                (small / rel).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(src / rel, small / rel)
            res["killed_batch"] = run_killed_batch(small, Path(tmp) / "out_small", a.jobs,
                                                   a.n_killed)
        res = _relative(res, tmp)
    res["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res, indent=1))


def _relative(obj: object, tmp: str) -> object:
    """``obj`` with the temporary folder written as ``<tmp>`` in every string, so the
    printed (and committed) results name no machine path."""
    if isinstance(obj, str):
        return obj.replace(tmp, "<tmp>")
    if isinstance(obj, dict):
        return {k: _relative(v, tmp) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_relative(v, tmp) for v in obj]
    return obj


if __name__ == "__main__":
    main()
