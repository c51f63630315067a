"""Where the per-recording time of ``batch --no-plots`` goes, stage by stage (issue 20).

For each source tree given (``--tree name=path/to/src``; default: this checkout's
``src`` as ``after``, plus ``--base`` when given as ``before``), a fresh process with one
compute thread runs :func:`heartsound.batch.analyze_job` (what ``heartsound batch
--jobs 1 --no-plots`` runs per file: analysis, ``to_dict``, TSV and JSON rendered and
written) over the same CirCor recordings, after one warm-up file (models loaded, caches
filled), with the stage functions wrapped by CPU timers (``time.process_time``). Each
stage's time is *exclusive* (time in the stages it calls is charged to them), so the
stages add up to the whole:

* ``load``: decode and validate (``pipeline._load``);
* ``quality``: ``quality.assess``, including the shared front-end signals it is the
  first to ask for (resampling, band-pass, envelopes);
* ``segmentation``: the segmenter (feature extraction, posteriors, decoding);
* ``log_mel``: the classifiers' log-Mel spectrograms (``classify_all``);
* ``classify:<task>``: each classifier outside its model runs (crops, attention, ...);
* ``occlusion:<task>``: the evidence by phase outside its model runs;
* ``decision``: decision rule and bootstrap (``decide``, ``cohere_severity``);
* ``typicality``: the out-of-distribution profile;
* ``onnx[<stage>]``: ONNX Runtime runs made inside that stage;
* ``to_dict``, ``render`` (TSV and JSON text), ``write`` (atomic files);
* ``other``: the rest of ``analyze_job`` and ``analyze``.

Also, in ``--cold-repeats`` fresh processes per tree, the CPU time of the first and the
second ``analyze`` of one 20 s recording (with its JSON) after the imports: the
first-analysis cost of a cold ``heartsound analyze --no-plots`` beyond its imports.

With ``--onnx``, only ONNX Runtime's CPU ms per run of each shipped model by batch size
and session options (and whether outputs are bit-identical to heartsound's session).

Figures are in ms per 20 s of audio (total stage CPU time over the audio's length,
times 20). Every tree is run ``--repeats`` times, trees alternated; the median is kept.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/bench_stages.py --base ../base/src --n 60

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import subset  # noqa: E402  (same folder)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", REPO.parent / "shared" / "data"))
COLD_RECORD = "9979_PV"  # 20.3 s, a murmur finding (evidence by phase runs), as bench_speed

_totals: dict[str, float] = defaultdict(float)
_stack: list[list[Any]] = []


def _timed(fn: Callable, name: Callable[[tuple, dict], str]) -> Callable:
    """``fn`` charging its exclusive CPU time to the stage ``name(args, kwargs)``."""
    def wrapper(*a: Any, **k: Any) -> Any:
        _stack.append([name(a, k), 0.0])
        t0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            dt_ = time.process_time() - t0
            stage, child = _stack.pop()
            _totals[stage] += dt_ - child
            if _stack:
                _stack[-1][1] += dt_
    return wrapper


def _patch(obj: Any, attr: str, name: Callable[[tuple, dict], str] | str) -> None:
    fn = getattr(obj, attr, None)
    if fn is None:  # a tree without this function: its time stays with the caller
        return
    setattr(obj, attr, _timed(fn, name if callable(name) else (lambda a, k, n=name: n)))


def _onnx_name(a: tuple, k: dict) -> str:
    return f"onnx[{_stack[-1][0] if _stack else 'other'}]"


def worker(n: int) -> dict[str, Any]:
    """Per-stage CPU time of ``analyze_job`` over ``subset(n)`` in this process."""
    import soundfile as sf

    from heartsound import batch, bundle, pipeline
    from heartsound.classification import inference

    files = subset(n)
    key = batch.run_key("neural", tuple(pipeline.DEFAULT_TASKS))
    with tempfile.TemporaryDirectory(prefix="bench_stages_") as tmp:
        batch.analyze_job((files[0], Path(tmp), "warmup", key, False, False))
        _patch(pipeline, "_load", "load")
        _patch(pipeline, "assess", "quality")
        _patch(pipeline, "_segment_with_fallback", "segmentation")
        _patch(pipeline, "typicality", "typicality")
        _patch(pipeline.Analysis, "to_dict", "to_dict")
        _patch(inference, "log_mel", "log_mel")
        _patch(inference, "classify", lambda a, k: f"classify:{k.get('task')}")
        _patch(inference, "_evidence", lambda a, k: f"occlusion:{a[1]}")
        _patch(inference, "decide", "decision")
        _patch(inference, "cohere_severity", "decision")
        _patch(pipeline, "cohere_severity", "decision")
        _patch(bundle.ModelBundle, "run", _onnx_name)
        _patch(batch, "render_outputs", "render")
        _patch(batch, "write_named", "write")
        job = _timed(batch.analyze_job, lambda a, k: "other")
        failed = []
        for i, f in enumerate(files):
            _, err = job((f, Path(tmp), f"r{i}", key, False, False))
            if err:
                failed.append(err)
    audio_s = sum(sf.info(str(f)).duration for f in files)
    per20 = {k: round(v / audio_s * 20 * 1000, 2) for k, v in sorted(_totals.items())}
    total = sum(_totals.values())
    return {"n_files": len(files), "audio_s": round(audio_s, 1), "failed": failed,
            "cpu_s": round(total, 3), "x_real_time": round(audio_s / total, 1),
            "ms_per_20s": per20, "ms_per_20s_total": round(total / audio_s * 20000, 2)}


def cold_worker() -> dict[str, Any]:
    """CPU seconds of the first and the second ``analyze`` + JSON of :data:`COLD_RECORD`
    in this process, after the imports (numpy, scipy.signal, onnxruntime, soundfile,
    heartsound): the first includes the models' loading (sha256, ONNX Runtime sessions)
    and every design made once per process."""
    import numpy  # noqa: F401
    import onnxruntime  # noqa: F401
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    from heartsound import pipeline
    from heartsound.serialize import json_text

    rec = DATA / "circor2022" / "recordings" / f"{COLD_RECORD}.flac"
    out = {}
    for name in ("first_s", "second_s"):
        t0 = time.process_time()
        json_text(pipeline.analyze(rec).to_dict())
        out[name] = round(time.process_time() - t0, 4)
    return out


def onnx_worker(reps: int = 7) -> dict[str, Any]:
    """Per shipped classifier and the segmenter, ONNX Runtime CPU ms per run (median of
    ``reps`` rounds of 10 runs, variants alternated) at several batch sizes and with
    other session options than heartsound's, and whether the outputs are bit-identical
    to heartsound's session (crops of the batch of 45 run 9 at a time, for the batch
    sizes)."""
    import importlib.resources

    import numpy as np
    import onnxruntime as ort

    level = ort.GraphOptimizationLevel
    variants = {"heartsound (ORT_ENABLE_ALL)": {},
                "ORT_ENABLE_EXTENDED": {"graph_optimization_level": level.ORT_ENABLE_EXTENDED},
                "ORT_ENABLE_BASIC": {"graph_optimization_level": level.ORT_ENABLE_BASIC},
                "ORT_DISABLE_ALL": {"graph_optimization_level": level.ORT_DISABLE_ALL},
                "enable_mem_pattern=False": {"enable_mem_pattern": False},
                "enable_cpu_mem_arena=False": {"enable_cpu_mem_arena": False}}
    shapes = {"murmur": (64, 68), "abnormal": (64, 68), "severity": (64, 64),
              "segmenter_neural": (1024, 8)}
    out: dict[str, Any] = {}
    for name, shape in shapes.items():
        data = importlib.resources.files("heartsound.models").joinpath(f"{name}.onnx") \
            .read_bytes()
        sessions = {}
        for v, kw in variants.items():
            o = ort.SessionOptions()
            o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
            o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            for k, val in kw.items():
                setattr(o, k, val)
            sessions[v] = ort.InferenceSession(data, sess_options=o,
                                               providers=["CPUExecutionProvider"])
        x45 = np.random.default_rng(0).standard_normal((45, *shape)).astype(np.float32)
        ref = sessions["heartsound (ORT_ENABLE_ALL)"]
        by9 = [np.concatenate(o) for o in zip(*(ref.run(None, {"features": x45[i:i + 9]})
                                                for i in range(0, 45, 9)))]
        runs: dict[str, list[float]] = {}
        batches = (1, 4, 9, 18, 36, 45) if name != "segmenter_neural" else (1,)
        for _ in range(reps):
            for v, sess in sessions.items():
                for b in (batches if v.startswith("heartsound") else (batches[-1],)):
                    sess.run(None, {"features": x45[:b]})
                    t0 = time.process_time()
                    for _ in range(10):
                        sess.run(None, {"features": x45[:b]})
                    runs.setdefault(f"{v}|{b}", []).append((time.process_time() - t0) * 100)
        model = {"input_per_item": list(shape)}
        for key, ts in runs.items():
            v, b = key.split("|")
            got = sessions[v].run(None, {"features": x45[:int(b)]})
            want = by9 if name != "segmenter_neural" else ref.run(None, {"features": x45[:1]})
            same = all(np.array_equal(g, w[:int(b)]) for g, w in zip(got, want))
            ms = statistics.median(ts)
            model[key] = {"ms_per_run": round(ms, 3), "ms_per_item": round(ms / int(b), 3),
                          "bit_identical": same}
        out[name] = model
    return out


def run_tree(src: str, n: int, mode: str = "--worker") -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
    p = subprocess.run([sys.executable, __file__, mode, "--n", str(n)], env=env,
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"worker for {src} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout)


def commit_of(src: str) -> str:
    p = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], text=True,
                       capture_output=True, check=False)
    return p.stdout.strip() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="CirCor recordings")
    ap.add_argument("--base", help="src folder of the tree to compare with (before)")
    ap.add_argument("--tree", action="append", default=[], help="name=path/to/src")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--cold-repeats", type=int, default=5,
                    help="fresh processes per tree for the first-analysis figure")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cold-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", action="store_true",
                    help="only ONNX Runtime ms per run by batch size and session options")
    a = ap.parse_args()
    if a.onnx:
        print(json.dumps({"benchmark": "bench_stages --onnx", "load_avg_1min":
                          round(os.getloadavg()[0], 2), "models": onnx_worker()}, indent=1))
        return
    if a.worker or a.cold_worker:
        print(json.dumps(worker(a.n) if a.worker else cold_worker()))
        return
    trees = dict(t.split("=", 1) for t in a.tree)
    if a.base:
        trees = {"before": a.base, **trees}
    trees.setdefault("after", str(REPO / "src"))
    out: dict[str, Any] = {
        "benchmark": "bench_stages", "date": dt.datetime.now(dt.timezone.utc)
        .strftime("%Y-%m-%d %H:%M UTC"), "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
        "commits": {k: commit_of(v) for k, v in trees.items()}, "runs": {}}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for _ in range(a.repeats):
        for name, src in trees.items():
            runs[name].append(run_tree(src, a.n))
    for name, rs in runs.items():
        stages = sorted({s for r in rs for s in r["ms_per_20s"]})
        out["runs"][name] = {
            **{k: rs[0][k] for k in ("n_files", "audio_s", "failed")},
            "x_real_time": statistics.median(r["x_real_time"] for r in rs),
            "ms_per_20s_total": statistics.median(r["ms_per_20s_total"] for r in rs),
            "ms_per_20s": {s: statistics.median(r["ms_per_20s"].get(s, 0.0) for r in rs)
                           for s in stages},
            "repeats": rs}
    cold: dict[str, list[dict]] = {k: [] for k in trees}
    for _ in range(a.cold_repeats):  # trees alternated
        for name, src in trees.items():
            cold[name].append(run_tree(src, a.n, "--cold-worker"))
    out["cold_analysis"] = {
        name: {"record": COLD_RECORD,
               "first_s_median": statistics.median(r["first_s"] for r in rs),
               "second_s_median": statistics.median(r["second_s"] for r in rs),
               "runs": rs} for name, rs in cold.items() if rs}
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
