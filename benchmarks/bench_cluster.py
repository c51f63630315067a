"""``heartsound batch`` on a Dask cluster against local ``--jobs 2``, in one run.

On the same CirCor subset (every k-th recording of ``circor2022/manifest.tsv``, as
bench_batch.py), each configuration runs as a fresh ``python -m heartsound batch`` client
process into a fresh output folder:

* ``local_jobs2``: ``--jobs 2`` (the baseline: worker processes of this machine);
* ``cluster_cold``: ``--scheduler local:2`` (the client starts a LocalCluster: start-up
  and one model load per worker included);
* ``cluster_warm``: ``--scheduler tcp://...`` of a 2-worker LocalCluster that this script
  started and warmed up once (the steady state of a long-running cluster). Its scheduler
  runs in this process, so the CPU time of the scheduler (this process), of the client
  (the child process) and of the workers (read from ``/proc``) are measured apart (the
  client's cost per file: the run's client CPU less that of a run of one file, over
  n - 1 files);
* ``cluster_warm_1``: the same with ``--files-per-task 1`` (one Dask task per file; the
  others group about 4 tasks per worker thread).

Then the engine's cost per task without any analysis: ``--noop`` tasks of ``len`` through
:class:`heartsound.batch_cluster.DaskExecutor` (the path batch uses) and through
:func:`heartsound.batch_pool.run_isolated`; and the client's cost of rewriting
``summary.csv`` of 10,000 and 50,000 rows (why the cluster's client defers rewrites). The
scaling estimate to 100 workers is derived from these figures (see ``estimate``).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_cluster.py --n 60 > out/bench_cluster.json

Prints one JSON object. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import git_commit, linked_folder, subset, timed  # noqa: E402 - the same subset, timing

from heartsound.batch_cluster import DaskExecutor, local_cluster  # noqa: E402
from heartsound.batch_files import Summary  # noqa: E402
from heartsound.batch_pool import run_isolated  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes ``pids``."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def client_run(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of a client process (and of everything it waited for)."""
    r = timed(cmd, env)
    return {"wall_s": r["wall_s"], "client_cpu_s": r["cpu_s"]}


def noop_tasks(address: str, n: int, worker_pids: list[int],
               group: int | None = 1) -> dict[str, float]:
    """``n`` jobs of ``len`` through DaskExecutor (``group`` jobs per task): wall, and the
    CPU of this process (scheduler + client) and of the workers, per job."""
    jobs = [("x",)] * n
    with DaskExecutor(address, files_per_task=group) as ex:
        w0, s0, t0 = proc_cpu(worker_pids), self_cpu(), time.perf_counter()
        got = sum(1 for _ in ex.results(jobs, len))
        wall = time.perf_counter() - t0
        s1, w1 = self_cpu(), proc_cpu(worker_pids)
    assert got == n
    return {"n": n, "files_per_task": group or "auto",
            "wall_ms_per_job": round(1e3 * wall / n, 3),
            "scheduler_client_cpu_ms_per_job": round(1e3 * (s1 - s0) / n, 3),
            "workers_cpu_ms_per_job": round(1e3 * (w1 - w0) / n, 3)}


def idle_scheduler(seconds: float = 5.0) -> float:
    """CPU seconds per second of this process (the scheduler, 2 workers connected) when
    no task runs: heartbeats and the event loop."""
    s0 = self_cpu()
    time.sleep(seconds)
    return (self_cpu() - s0) / seconds


def noop_pool(n: int) -> dict[str, float]:
    """The same no-op jobs through the local worker pool (``--jobs 2``)."""
    t0 = time.perf_counter()
    run_isolated([("x",)] * n, len, 2, lambda k, r, e: None)
    return {"n": n, "wall_ms_per_job": round(1e3 * (time.perf_counter() - t0) / n, 3)}


def rewrite_cost(rows: int, tmp: Path) -> float:
    """Seconds to rewrite a summary.csv of ``rows`` rows (a real row's width)."""
    s = Summary(tmp / "summary.csv", ("abnormal", "murmur", "severity"),
                [f"site{i // 1000}/p{i:06d}_AV.flac" for i in range(rows)])
    row = {"status": "ok", "error": "", "duration_s": 18.16, "sr": 4000, "usable": True,
           "quality_score": 0.873, "quality_reasons": "", "quality_notes": "",
           "heart_rate_bpm": 92.3, "n_cycles": 27, "segmentation_method": "neural",
           "abnormal_label": "abnormal", "abnormal_uncertain": False,
           "abnormal_p_normal": 0.31, "abnormal_p_abnormal": 0.69}
    for i in range(rows):
        s.set(i, {**row, "path": f"site{i // 1000}/p{i:06d}_AV.flac"})
    t0 = time.perf_counter()
    for _ in range(3):
        s.flush()
    return (time.perf_counter() - t0) / 3


def estimate(c_w: float, c_s: float, c_c: float, startup_s: float) -> dict:
    """Throughput of W workers from per-file costs (seconds): ``c_w`` worker CPU (runs in
    parallel on W workers), ``c_s`` scheduler CPU (its cost per task divided by the files
    per task) and ``c_c`` client CPU (one scheduler, one client: serial). Pipelined
    (scheduler and client on their own cores, overlapping the workers): X(W) = min(W / c_w, 1 / max(c_s, c_c)). Amdahl, pessimistic (nothing
    overlaps): X(W) = 1 / (c_w / W + c_s + c_c)."""
    out = {}
    for w in (2, 10, 50, 100, 200):
        pipe = min(w / c_w, 1 / max(c_s, c_c))
        amdahl = 1 / (c_w / w + c_s + c_c)
        out[str(w)] = {"files_per_s_pipelined": round(pipe, 1),
                       "files_per_s_amdahl": round(amdahl, 1),
                       "efficiency_amdahl": round(amdahl / (w / c_w), 3),
                       "hours_for_50000_files_amdahl": round(
                           (50000 / amdahl + startup_s) / 3600, 2)}
    out["serial_limit_files_per_s"] = round(1 / max(c_s, c_c), 1)
    out["workers_at_serial_limit"] = round(c_w / max(c_s, c_c))
    return out


def _measure_configs(a, src: Path, tmp: Path, address: str, pids: list[int],
                     env: dict[str, str]) -> list[dict]:
    base = [sys.executable, "-m", "heartsound", "batch", str(src), "--method", a.method,
            "--no-progress"] + ([] if a.plots else ["--no-plots"])
    src1 = linked_folder(sorted(src.iterdir())[:1], tmp / "in_1")
    runs = []
    for rep in range(a.repeat):
        for name, extra in (("local_jobs2", ["--jobs", "2"]),
                            ("cluster_cold", ["--scheduler", "local:2"]),
                            ("cluster_warm", ["--scheduler", address]),
                            ("cluster_warm_1", ["--scheduler", address,
                                                "--files-per-task", "1"])):
            dst = tmp / f"{name}_{rep}"
            w0, s0 = proc_cpu(pids), self_cpu()
            r = client_run([*base, "--out", str(dst), *extra], env)
            if name.startswith("cluster_warm"):
                r["scheduler_cpu_s"] = round(self_cpu() - s0, 2)
                r["workers_cpu_s"] = round(proc_cpu(pids) - w0, 2)
                one = [*base[:4], str(src1), *base[5:]]  # the client's cost without files
                r["one_file_client"] = client_run([*one, "--out", str(dst) + "_1", *extra],
                                                  env)
            r.update(config=name, repeat=rep,
                     summary_csv=(dst / "summary.csv").read_bytes(),
                     summary_parquet=(dst / "summary.parquet").read_bytes())
            runs.append(r)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="recordings in the subset")
    ap.add_argument("--method", default="neural")
    ap.add_argument("--plots", action="store_true", help="draw the PNGs too")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of the 3 configurations")
    ap.add_argument("--noop", type=int, default=2000, help="no-op tasks")
    a = ap.parse_args()

    files = subset(a.n)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out: dict = {"benchmark": "bench_cluster", "date": dt.datetime.now(dt.timezone.utc)
                 .strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(),
                 "python": platform.python_version(), "cpus": os.cpu_count(),
                 "load_avg_1min": round(os.getloadavg()[0], 2), "n_files": len(files),
                 "method": a.method, "plots": a.plots}
    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as tmp_s:
        tmp = Path(tmp_s)
        src = linked_folder(files, tmp / "in")
        cluster = local_cluster(2)
        try:
            with DaskExecutor(cluster.scheduler_address) as ex:
                pids = sorted(ex.client.run(os.getpid).values())
            warm = client_run([sys.executable, "-m", "heartsound", "batch", str(src),
                               "--out", str(tmp / "warmup"), "--no-plots", "--no-progress",
                               "--method", a.method, "--scheduler",
                               cluster.scheduler_address], env)
            runs = _measure_configs(a, src, tmp, cluster.scheduler_address, pids, env)
            out["warmup_run"] = warm
            out["scheduler_idle_cpu_per_s"] = round(idle_scheduler(), 4)
            out["noop_dask"] = noop_tasks(cluster.scheduler_address, a.noop, pids)
            out["noop_dask_grouped"] = noop_tasks(cluster.scheduler_address, a.noop, pids,
                                                  group=None)
        finally:
            cluster.close()
        out["noop_local_pool"] = noop_pool(a.noop)
        out["summary_rewrite_s"] = {str(n): round(rewrite_cost(n, tmp), 4)
                                    for n in (1000, 10000, 50000)}
    ref = runs[0]
    out["identical_summaries"] = all(r["summary_csv"] == ref["summary_csv"] and
                                     r["summary_parquet"] == ref["summary_parquet"]
                                     for r in runs)
    for r in runs:
        del r["summary_csv"], r["summary_parquet"]
    out["runs"] = runs
    _derive(out, runs, len(files))
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


def _derive(out: dict, runs: list[dict], n: int) -> None:
    """Ratios against local --jobs 2 (medians over the rounds) and the estimate."""
    def med(name: str, key: str) -> float:
        v = sorted(r[key] for r in runs if r["config"] == name)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    local = med("local_jobs2", "wall_s")
    out["wall_ratio_vs_local_jobs2"] = {
        c: round(med(c, "wall_s") / local, 3)
        for c in ("cluster_cold", "cluster_warm", "cluster_warm_1")}
    idle = out["scheduler_idle_cpu_per_s"]
    per_file = {}
    for name in ("cluster_warm", "cluster_warm_1"):
        warm = [r for r in runs if r["config"] == name]
        per_file[name] = {
            "worker_cpu": sum(r["workers_cpu_s"] for r in warm) / (len(warm) * n),
            "scheduler_cpu_marginal": sum(r["scheduler_cpu_s"] - idle * r["wall_s"]
                                          for r in warm) / (len(warm) * n),
            "client_cpu": sum(r["client_cpu_s"] - r["one_file_client"]["client_cpu_s"]
                              for r in warm) / (len(warm) * (n - 1))}
    out["per_file_s"] = {k: {q: round(v, 4) for q, v in d.items()}
                         for k, d in per_file.items()}
    startup = med("cluster_cold", "wall_s") - med("cluster_warm", "wall_s")
    out["cluster_startup_wall_s"] = round(startup, 2)
    c_w = per_file["cluster_warm"]["worker_cpu"]
    task = out["noop_dask"]["scheduler_client_cpu_ms_per_job"] / 1e3
    c_c = per_file["cluster_warm"]["client_cpu"]
    out["estimate"] = {f"files_per_task_{g}": estimate(c_w, task / g, c_c, max(startup, 0.0))
                       for g in (1, 16)}
    out["estimate_inputs_s"] = {"worker_cpu_per_file": round(c_w, 4),
                                "scheduler_cpu_per_task": round(task, 5),
                                "client_cpu_per_file": round(c_c, 5)}


if __name__ == "__main__":
    main()
