"""``heartsound serve`` under load, against a real uvicorn on 127.0.0.1.

Measures, in one run:

* server start time (spawn to the first answer of ``/api/health``);
* ``POST /api/analyze`` latency for a 20 s and a 10 min recording (first and warm);
* the load test: ``--n`` (50) concurrent ``POST /api/analyze`` of 20 s CirCor recordings,
  each answer checked against the answer the same server gave when idle (byte-identical
  JSON); median and p95 latency, throughput, 503 count, peak RSS of the server process
  tree (sampled every 20 ms by psutil) and its idle RSS before;
* the viewer in headless Chromium (Debian's ``chromium`` through playwright): time from
  the click on a 10-min recording to the first paint of waveform + segmentation and to
  the audio being playable (cold: analysis included; warm: result cached), and the time
  of one full redraw and of a zoom step on it;
* baseline in the same run: ``heartsound.analyze`` of the same 20 s recording in this
  process (no HTTP), warm.

The 10-min recording is 30 CirCor recordings (2 kHz) concatenated into a WAV in a
temporary folder (1.2 M samples). Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_web.py --n 50 --workers 2 > out/bench_web.json
    OMP_NUM_THREADS=1 python benchmarks/bench_web.py --n 50 --queue 8   # 503 when full

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", REPO.parent / "shared" / "data"))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def recordings_20s(k: int) -> list[Path]:
    """``k`` CirCor recordings of 19.5-20.5 s, in manifest order."""
    rec = DATA / "circor2022" / "recordings"
    with open(DATA / "circor2022" / "manifest.tsv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t")
                if 19.5 <= float(r["duration_s"]) <= 20.5]
    return [rec / f"{r['record']}.flac" for r in rows[:k]]


def ten_minutes(folder: Path) -> Path:
    """30 CirCor recordings of ~20 s (2 kHz) concatenated: 600 s, 1.2 M samples."""
    parts = [sf.read(p)[0] for p in recordings_20s(30)]
    y = np.concatenate(parts)[: 600 * 2000]
    out = folder / "ten_minutes.wav"
    sf.write(out, y, 2000, subtype="PCM_16")
    return out


class RssPeak:
    """Peak resident memory of a process and its children, sampled in a thread."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        import psutil

        self.proc, self.every, self.peak = psutil.Process(pid), every_s, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a child that just ended
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.every)

    def __enter__(self) -> RssPeak:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def post(client, path: Path, tasks: str | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    data = {"tasks": tasks} if tasks else {}
    r = client.post("/api/analyze", files={"file": (path.name, path.read_bytes())}, data=data)
    return time.perf_counter() - t0, r.status_code, r.text


def latency(client, path: Path, repeats: int) -> dict:
    times = [post(client, path)[0] for _ in range(repeats)]
    return {"first_s": round(times[0], 3), "warm_median_s": round(statistics.median(
        times[1:]), 3) if repeats > 1 else None, "n": repeats}


def load_test(url: str, files: list[Path], expected: dict[str, str], n: int,
              pid: int) -> dict:
    import httpx

    def one(i: int) -> tuple[float, int, bool]:
        path = files[i % len(files)]
        with httpx.Client(base_url=url, timeout=600) as c:
            dt_s, code, text = post(c, path)
        return dt_s, code, code == 200 and text == expected[path.name]

    with RssPeak(pid) as rss:
        idle = rss.now()
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(n) as ex:
            res = list(ex.map(one, range(n)))
        wall = time.perf_counter() - t0
    lat = sorted(r[0] for r in res if r[1] == 200) or [float("nan")]
    return {"requests": n, "ok": sum(r[1] == 200 for r in res),
            "correct": sum(r[2] for r in res), "status_503": sum(r[1] == 503 for r in res),
            "wall_s": round(wall, 2), "throughput_rps": round(n / wall, 3),
            "median_s": round(statistics.median(lat), 3),
            "p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3),
            "idle_rss_mb": round(idle / 2**20, 1), "peak_rss_mb": round(rss.peak / 2**20, 1)}


def first_paint(url: str, rid: str) -> dict:
    """Click on ``rid`` in the list; ms to the first paint with the segmentation, twice
    (cold: analysis included; warm: result cached); one redraw and one zoom step."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for run in ("cold", "warm"):
                pg = b.new_page(viewport={"width": 1400, "height": 900})
                pg.goto(url + "/")
                pg.wait_for_selector(f"#list tr.row[data-id='{rid}']")
                t0 = pg.evaluate("performance.now()")
                pg.click(f"#list tr.row[data-id='{rid}']")
                pg.wait_for_function("window.heartsound.firstPaint !== null", timeout=300_000)
                out[f"{run}_ms"] = round(pg.evaluate("window.heartsound.firstPaint") - t0, 1)
                pg.wait_for_function("window.heartsound.playableAt !== null", timeout=300_000)
                out[f"{run}_playable_ms"] = round(pg.evaluate("window.heartsound.playableAt")
                                                  - t0, 1)
                if run == "warm":
                    out["redraw_ms"] = round(pg.evaluate("""() => { const v = window.heartsound.viewer;
                        const t = performance.now(); for (let i = 0; i < 20; i++) v.draw();
                        return (performance.now() - t) / 20; }"""), 2)
                    out["zoom_step_ms"] = round(pg.evaluate("""() => { const v = window.heartsound.viewer;
                        const t = performance.now(); for (let i = 0; i < 20; i++) v.zoom(i % 2 ? 1.25 : 0.8, 300);
                        return (performance.now() - t) / 20; }"""), 2)
                    out["rows"] = pg.evaluate("window.heartsound.segs.rows.length")
                pg.close()
        finally:
            b.close()
    return out


def main() -> None:
    from heartsound.pipeline import analyze
    from heartsound.web.launch import served

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50, help="concurrent requests")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=10, help="distinct 20 s recordings")
    ap.add_argument("--queue", type=int, default=None,
                    help="server --queue (default n + 8: nothing refused); smaller shows "
                         "the 503 answers of a full queue")
    a = ap.parse_args()
    files = recordings_20s(a.files)
    out: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                 "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                          capture_output=True, text=True).stdout.strip(),
                 "cpus": os.cpu_count(), "n": a.n, "workers": a.workers,
                 "load_before": os.getloadavg()}
    analyze(files[0])
    t0 = time.perf_counter()
    for _ in range(3):
        analyze(files[0])
    out["baseline_inprocess_20s_s"] = round((time.perf_counter() - t0) / 3, 3)
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        long = ten_minutes(Path(tmp))
        queue = a.n + 8 if a.queue is None else a.queue
        out["queue"] = queue
        with served(tmp, args=["--workers", str(a.workers), "--queue", str(queue)],
                    log_dir=tmp) as s:
            out["server_start_s"] = round(s.start_s, 2)
            with httpx.Client(base_url=s.url, timeout=600) as c:
                out["post_20s"] = latency(c, files[0], 5)
                out["post_10min"] = latency(c, long, 2)
                expected = {p.name: post(c, p)[2] for p in files}
            out["load"] = load_test(s.url, files, expected, a.n, s.process.pid)
            out["viewer_10min"] = first_paint(s.url, long.name)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
