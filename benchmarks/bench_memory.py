"""Peak memory of ``heartsound analyze`` as a function of recording length.

Writes synthetic phonocardiograms (:func:`heartsound.example.synthetic_pcg`, 2000 Hz,
16-bit WAV in a temporary folder that is deleted afterwards) of 1, 10 and 60 minutes,
runs ``python -m heartsound analyze FILE --out TMP`` on each in a fresh process (default
outputs: JSON, TSV and the PNG figure) and records its peak resident set size and wall
time. Peak RSS comes from ``/usr/bin/time -v`` ("Maximum resident set size") when that
program exists, else from ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a child
that runs only that one command (the first child of a fresh interpreter).

Target of issue 14 item 9: peak RSS on 60 minutes <= 500 MB with the PNG and <= 1.3x the
10-minute figure (``ratio_60_10``).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_memory.py                 # 1, 10, 60 min
    python benchmarks/bench_memory.py --minutes 1,10 --no-plots         # without the PNG
    python benchmarks/bench_memory.py --minutes 60 --stages             # peak per stage

Prints one JSON object: ``peak_rss_mb`` and ``wall_s`` keyed by minutes, ``ratio_60_10``.
With ``--stages`` (Linux), each length is also analysed in a child that resets the peak
RSS (``/proc/self/clear_refs``) on entering and leaving each pipeline stage and front-end
signal, and ``stages`` lists, per length, every stage with its peak RSS and the RSS it
leaves behind (MB; nested stages indented by ``>``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SR = 2000
TIME_V = "/usr/bin/time"


def write_recording(path: Path, minutes: float) -> None:
    """A synthetic PCG of ``minutes`` at :data:`SR` Hz, 16-bit WAV (never committed)."""
    import soundfile as sf

    from heartsound.example import synthetic_pcg

    y, _ = synthetic_pcg(seconds=60.0 * minutes, sr=SR)
    sf.write(str(path), y, SR, subtype="PCM_16")


def _rss_from_time_v(stderr: str) -> float:
    m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", stderr)
    if m is None:
        raise SystemExit(f"no peak RSS in /usr/bin/time output:\n{stderr[-2000:]}")
    return int(m.group(1)) / 1024.0


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Peak RSS (MB) and wall time (s) of ``cmd`` run in a fresh process."""
    use_time = os.access(TIME_V, os.X_OK)
    if use_time:
        full = [TIME_V, "-v", *cmd]
    else:  # a fresh interpreter whose only child is cmd: its RUSAGE_CHILDREN peak is cmd's
        probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
                 "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
                 "file=sys.stderr); sys.exit(r.returncode)")
        full = [sys.executable, "-c", probe, *cmd]
    t0 = time.perf_counter()
    p = subprocess.run(full, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    if use_time:
        rss = _rss_from_time_v(p.stderr)
    else:
        rss = int(re.findall(r"maxrss_kb (\d+)", p.stderr)[-1]) / 1024.0
    return {"peak_rss_mb": round(rss, 1), "wall_s": round(wall, 2)}


#: (module, attribute, label) of what ``--stages`` times; Frontend methods by name.
STAGES = (("heartsound.pipeline", "_load", "load"), ("heartsound.pipeline", "assess", "quality"),
          ("heartsound.pipeline", "_segment_with_fallback", "segmentation"),
          ("heartsound.pipeline", "classify_tasks", "classification"),
          ("heartsound.report", "write_outputs", "write outputs"),
          ("heartsound.report", "figure_png", "figure"),
          ("heartsound.features", "psd_envelope", "psd envelope"),
          ("heartsound.features", "band_energies", "band energies"))
FRONTEND = ("bandpassed", "clean", "hilbert", "homomorphic", "resampled", "release")


def _mem() -> tuple[float, float]:
    """(peak RSS since the last reset, RSS) of this process in MB."""
    text = Path("/proc/self/status").read_text()
    return tuple(int(re.search(rf"{k}:\s*(\d+)", text).group(1)) / 1024  # type: ignore
                 for k in ("VmHWM", "VmRSS"))


def stage_child(argv: list[str]) -> None:
    """``heartsound analyze`` on ``argv`` with every stage of :data:`STAGES` wrapped: the
    peak RSS is read and reset at each entry and exit. Prints JSON rows to stdout."""
    import functools
    import importlib

    import heartsound.frontend as hfe
    from heartsound.cli import main as cli_main

    rows: list[list] = []
    depth = [0]

    def mark() -> float:
        peak, rss = _mem()
        Path("/proc/self/clear_refs").write_text("5")
        for r in rows:  # every open stage saw this peak
            if r[3] is None:
                r[2] = max(r[2], peak)
        return rss

    def wrap(obj: object, attr: str, label: str) -> None:
        f = getattr(obj, attr)

        @functools.wraps(f)
        def g(*a, **k):
            mark()
            row = [depth[0], label, 0.0, None]
            rows.append(row)
            depth[0] += 1
            try:
                return f(*a, **k)
            finally:
                depth[0] -= 1
                row[3] = mark()
        setattr(obj, attr, g)

    for mod, attr, label in STAGES:
        wrap(importlib.import_module(mod), attr, label)
    for attr in FRONTEND:
        wrap(hfe.Frontend, attr, f"frontend.{attr}")
    cli_main(["analyze", *argv])
    print(json.dumps([{"stage": ">" * d + lab, "peak_mb": round(p, 1),
                       "rss_after_mb": round(r, 1)} for d, lab, p, r in rows]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", default="1,10,60", help="comma-separated lengths (min)")
    ap.add_argument("--no-plots", action="store_true", help="pass --no-plots (no PNG)")
    ap.add_argument("--method", default="neural", help="segmentation method")
    ap.add_argument("--stages", action="store_true", help="also the peak RSS per stage")
    ap.add_argument("--stage-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage_child:
        stage_child(a.stage_child)
        return
    minutes = [float(m) for m in a.minutes.split(",") if m.strip()]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"),
                                                       os.environ.get("PYTHONPATH")]))}
    out: dict = {"benchmark": "bench_memory",
                 "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                                          text=True, capture_output=True).stdout.strip(),
                 "python": platform.python_version(), "sr": SR, "method": a.method,
                 "png": not a.no_plots, "peak_rss_via": ("/usr/bin/time -v"
                                                         if os.access(TIME_V, os.X_OK)
                                                         else "RUSAGE_CHILDREN"),
                 "peak_rss_mb": {}, "wall_s": {}}
    tmp = Path(tempfile.mkdtemp(prefix="hs-bench-memory-"))
    try:
        for m in minutes:
            key = f"{m:g}"
            wav = tmp / f"synthetic_{key}min.wav"
            write_recording(wav, m)
            cmd = [sys.executable, "-m", "heartsound", "analyze", str(wav),
                   "--out", str(tmp / "out"), "--method", a.method]
            if a.no_plots:
                cmd.append("--no-plots")
            r = measure(cmd, env)
            out["peak_rss_mb"][key] = r["peak_rss_mb"]
            out["wall_s"][key] = r["wall_s"]
            print(f"{key} min: {r['peak_rss_mb']} MB, {r['wall_s']} s", file=sys.stderr)
            if a.stages:
                p = subprocess.run([sys.executable, __file__, "--stage-child", *cmd[4:]],
                                   env=env, capture_output=True, text=True, check=True)
                out.setdefault("stages", {})[key] = json.loads(p.stdout.splitlines()[-1])
            wav.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rss = out["peak_rss_mb"]
    if "60" in rss and "10" in rss:
        out["ratio_60_10"] = round(rss["60"] / rss["10"], 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
