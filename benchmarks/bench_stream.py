"""Streaming segmentation figures (issue 17): streamed vs offline S1/S2 F1, emission
latency, heart-rate error over 5 s windows, CPU per second of audio, peak RSS over a long
stream. Prints one JSON object.

    python benchmarks/bench_stream.py circor --n 30 --train 400 --lags 0.5 0.6 1.0
    python benchmarks/bench_stream.py pascal --lags 0.5 0.6 1.0
    python benchmarks/bench_stream.py memory --minutes 60 --method springer2016
    python benchmarks/bench_stream.py speed --repeats 3 --base ../base
    python benchmarks/bench_stream.py events --dataset circor --n 30 --base ../base

``events``: the neural stream's events on the ``speed`` recordings, and with ``--base``
whether another checkout's are exactly the same (a change meant to keep them).

``speed``: CPU per second of audio on one thread, streamed (``--chunk`` s chunks) and
offline (the same model's ``segment`` on the whole recording: the baseline, in the same
run), over the 21 annotated PASCAL set A recordings, best of ``--repeats``; with
``--base DIR`` also the stream (and offline, unless ``--stream-only``) of another
checkout (e.g. main), interleaved (a single pass per subprocess). Each process
first streams 10 s untimed (model session, cached tables: start-up is not timed).

``circor``: fold 0 of ``circor_folds(records, k=5, seed=0)``; a springer2016 model is
fitted on ``--train`` recordings of the other four folds (the first ones in fold order)
and ``--n`` held-out recordings (the first ones) are scored, offline and streamed, with
that model, and with a neural network: ``--neural-model`` one trained without fold 0
(out of sample), else the shipped one (trained on all of CirCor, so its F1 against the
annotations is in-sample; its streamed-vs-offline difference is still meaningful). ``pascal``: the 21 annotated set A recordings (no model was trained on
PASCAL). Streams are fed in ``--chunk`` s chunks (20 ms: latency then includes at most
20 ms of chunking). CPU is process time on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from heartsound.datasets import circor2022
from heartsound.datasets.splits import circor_folds
from heartsound.evaluation.segmentation import (
    circor_items,
    pascal_items,
    score_circor,
    score_pascal,
    summary,
)
from heartsound.io import resample
from heartsound.segmentation import neural, springer
from heartsound.serialize import portable
from heartsound.streaming import Stream, emissions
from heartsound.streaming import stream as stream_mod

WINDOW_S = 5.0


#: Extra ``Stream`` keyword arguments (``--hop``), set by :func:`main`.
STREAM_KW: dict[str, Any] = {}


def stream_events(y: np.ndarray, sr: int, method: str, model: Any, lag: float | None,
                  chunk_s: float) -> tuple[list[Any], list[tuple[float, float | None]], float]:
    """Streamed events, (time, heart rate) at every 5 s window end, CPU seconds."""
    t0 = time.process_time()
    s = Stream(sr, method=method, model=model, **lag_kw(lag), **STREAM_KW)
    n = max(1, int(round(chunk_s * sr)))
    ev: list[Any] = []
    hr: list[tuple[float, float | None]] = []
    next_w = WINDOW_S
    for i in range(0, len(y), n):
        ev += s.push(y[i:i + n])
        if s.time_s >= next_w:
            hr.append((next_w, s.heart_rate().bpm))
            next_w += WINDOW_S
    ev += s.flush()
    return ev, hr, time.process_time() - t0


def lag_kw(lag: float | None) -> dict[str, float]:
    """``Stream`` keywords for ``lag`` (none for None: the checkout's default, which an
    older checkout, timed with ``--base``, may not accept as None)."""
    return {} if lag is None else {"lag_s": lag}


def ref_rate(s1_times: list[float], t_end: float) -> float | None:
    """60 / median S1-S1 interval of the annotated S1 onsets in ``[t_end - 5 s, t_end]``."""
    t = np.asarray([x for x in s1_times if t_end - WINDOW_S <= x <= t_end])
    iv = np.diff(t)
    iv = iv[(iv > 0.25) & (iv < 2.0)]
    return float(60.0 / np.median(iv)) if iv.size >= 2 else None


def hr_errors(hr: list[tuple[float, float | None]], s1: list[float]) -> list[float]:
    out = []
    for t, est in hr:
        ref = ref_rate(s1, t)
        if ref is not None and est is not None:
            out.append(abs(est - ref))
    return out


def run_items(items: list[dict[str, Any]], score: Any, segs: dict[str, Any], lags: list[float],
              chunk_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (method, model) in segs.items():
        off_scores: list[Any] = []
        per_lag: dict[float, dict[str, list[Any]]] = {
            lag: {"scores": [], "lat": [], "lat_all": [], "hr": [], "cpu": [], "dur": [],
                  "agree": []} for lag in lags}
        for it in items:
            seg = model.segment(it["y"], it["sr"])
            off = seg.events()
            off_scores.append(score(it, off))
            for lag in lags:
                ev, hr, cpu = stream_events(it["y"], it["sr"], method, model, lag, chunk_s)
                d = per_lag[lag]
                d["scores"].append(score(it, ev))
                d["agree"].append(score_vs(off, ev))
                warm = [e for e in ev if e.offset_s > 4.0 and e.offset_s < len(it["y"]) / it["sr"] - 0.01]
                d["lat"] += [e.emitted_at_s - e.offset_s for e in warm]
                d["lat_all"] += [e.emitted_at_s - e.offset_s for e in ev]
                d["hr"] += hr_errors(hr, it["s1"])
                d["cpu"].append(cpu)
                d["dur"].append(len(it["y"]) / it["sr"])
        res: dict[str, Any] = {"offline": summary({0.06: off_scores})["60ms"]}
        for lag, d in per_lag.items():
            lat, lat_all, hre = map(np.asarray, (d["lat"], d["lat_all"], d["hr"]))
            agree = summary({0.06: d["agree"]})["60ms"]
            res[f"lag_{lag}"] = {
                "stream": summary({0.06: d["scores"]})["60ms"],
                "stream_vs_offline_f1": agree["f1"],
                "latency_s_after_4s": {"median": float(np.median(lat)),
                                       "p95": float(np.percentile(lat, 95)),
                                       "max": float(lat.max()), "n": int(lat.size)},
                "latency_s_all": {"median": float(np.median(lat_all)),
                                  "p95": float(np.percentile(lat_all, 95))},
                "hr_abs_error_bpm_5s": {"median": float(np.median(hre)) if hre.size else None,
                                        "mean": float(np.mean(hre)) if hre.size else None,
                                        "n_windows": int(hre.size)},
                "x_real_time": float(sum(d["dur"]) / sum(d["cpu"])),
            }
        out[name] = res
    return out


def score_vs(off: list[Any], ev: list[Any]) -> dict[float, Any]:
    from heartsound.evaluation.detection import event_scores

    return event_scores([(e.sound, e.centre_s) for e in off],
                        [(e.sound, e.centre_s) for e in ev], 0.06)


def circor(args: argparse.Namespace) -> dict[str, Any]:
    records = circor2022.read(os.path.join(args.root, "circor2022"))
    records = [r for r in records if r.annotation_path is not None]
    tr, te = circor_folds(records, k=5, seed=0)[0]
    t0 = time.perf_counter()
    lr = springer.SpringerSegmenter()
    train: list[Any] = []
    if "springer2016" in args.methods:       # fitted only when scored
        train = circor_items([records[i] for i in tr[:args.train]], segmenter=lr)
        lr.fit([x for it in train for x in it["train_features"]],
               [it["states"] for it in train for _ in it["train_features"]])
    fit_s = time.perf_counter() - t0
    items = circor_items([records[i] for i in te[:args.n]], with_features=False)
    for it in items:
        it["s1"] = [a for a, _, st in it["rows"] if st == 1]
    net = neural.NeuralSegmenter(model_path=args.neural_model)
    segs = {"springer2016_fold0": ("springer2016", lr),
            ("neural_fold0" if args.neural_model else "neural_shipped"): ("neural", net)}
    segs = {k: v for k, v in segs.items() if v[0] in args.methods}
    out = run_items(items, lambda it, ev: score_circor(it["rows"], ev, [0.06])[0.06],
                    segs, args.lags, args.chunk)
    return {"dataset": "circor2022", "fold": 0, "n_scored": len(items),
            "n_train": len(train), "fit_seconds": round(fit_s, 1), "results": out}


def pascal(args: argparse.Namespace) -> dict[str, Any]:
    items = pascal_items(os.path.join(args.root, "pascal2011"))
    for it in items:
        it["s1"] = [t for snd, t in it["ref"] if snd == "S1"]
    segs = {"springer2016_shipped": ("springer2016", springer.load_default()),
            "neural_shipped": ("neural", neural.NeuralSegmenter())}
    segs = {k: v for k, v in segs.items() if v[0] in args.methods}
    out = run_items(items, lambda it, ev: score_pascal(it["ref"], ev, [0.06])[0.06],
                    segs, args.lags, args.chunk)
    return {"dataset": "pascal2011 set A", "n_scored": len(items), "results": out}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def memory(args: argparse.Namespace) -> dict[str, Any]:
    from heartsound.example import synthetic_pcg

    y, _ = synthetic_pcg(seconds=60.0, sr=args.sr, murmur=False)
    s = Stream(args.sr, method=args.method, **STREAM_KW)
    n = int(0.1 * args.sr)
    marks, t0, c0, n_ev = [], time.perf_counter(), time.process_time(), 0
    total = int(args.minutes * 60 / 0.1)
    for k in range(total):
        i = (k * n) % len(y)
        n_ev += len(s.push(y[i:i + n]))
        if (k + 1) % int(300 / 0.1) == 0 or k == 0:
            marks.append({"audio_min": round((k + 1) * 0.1 / 60, 2), "rss_mb": round(rss_mb(), 1)})
    n_ev += len(s.flush())
    return {"method": args.method, "sr": args.sr, "minutes": args.minutes, "chunk_s": 0.1,
            "events": n_ev, "rss": marks,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "x_real_time_cpu": args.minutes * 60 / (time.process_time() - c0),
            "wall_s": round(time.perf_counter() - t0, 1)}


def speed_items(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--dataset pascal``: the 21 annotated set A recordings (44.1 kHz); ``circor``: the
    first ``--n`` held-out recordings of fold 0 (2 kHz as loaded). ``--resample HZ``:
    the same audio resampled to ``HZ`` first (:func:`heartsound.io.resample`)."""
    if args.dataset == "pascal":
        items = pascal_items(os.path.join(args.root, "pascal2011"))
    else:
        records = circor2022.read(os.path.join(args.root, "circor2022"))
        records = [r for r in records if r.annotation_path is not None]
        te = circor_folds(records, k=5, seed=0)[0][1]
        items = circor_items([records[i] for i in te[:args.n]], with_features=False)
    if args.resample:
        for it in items:
            it["y"], it["sr"] = resample(it["y"], it["sr"], args.resample), args.resample
    return items


def stage_times(items: list[dict[str, Any]], method: str, model: Any, lag: float | None,
                chunk_s: float) -> dict[str, float]:
    """Process time per second of audio (ms) of each stage of the stream, one pass
    (timers around the stages' methods; their own cost is in "other")."""
    acc: dict[str, float] = {}

    def wrap(obj: Any, name: str, label: str) -> None:
        f = getattr(obj, name)

        def timed(*a: Any, **k: Any) -> Any:
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                acc[label] = acc.get(label, 0.0) + time.process_time() - t
        setattr(obj, name, timed)

    total, dur = 0.0, 0.0
    for it in items:
        t = time.process_time()
        s = Stream(it["sr"], method=method, model=model, **lag_kw(lag), **STREAM_KW)
        wrap(s._frontend, "_block", "front end")
        wrap(s._frontend, "_normalise", "running z-score")
        wrap(s._emitter, "push", "emissions (network)")
        wrap(s, "_update_rate", "heart rate")
        wrap(s._decoder, "push", "decoder")
        n = max(1, int(round(chunk_s * it["sr"])))
        for i in range(0, len(it["y"]), n):
            s.push(it["y"][i:i + n])
        s.flush()
        total += time.process_time() - t
        dur += len(it["y"]) / it["sr"]
    acc["other (chunks, set-up)"] = total - sum(acc.values())
    return {k: round(1000.0 * v / dur, 3) for k, v in acc.items()}


def speed(args: argparse.Namespace) -> dict[str, Any]:
    items = speed_items(args)
    lag = args.lag
    models = {"springer2016": springer.load_default(), "neural": neural.NeuralSegmenter()}
    dur = sum(len(it["y"]) / it["sr"] for it in items)
    out: dict[str, Any] = {"dataset": args.dataset, "sr": sorted({it["sr"] for it in items}),
                           "n_recordings": len(items), "audio_s": round(dur, 1),
                           "chunk_s": args.chunk, "lag_s": lag, "stream_kw": STREAM_KW,
                           "load_avg_before": os.getloadavg()}
    for method in args.methods:
        model = models[method]
        # one-time start-up (model session, cached tables) outside every timing, so the
        # base's single pass per subprocess compares with the best of this process's
        stream_events(items[0]["y"][:int(10 * items[0]["sr"])], items[0]["sr"], method, model,
                      lag, args.chunk)
        best: dict[str, float] = {"stream": float("inf"), "offline": float("inf"),
                                  "base_stream": float("inf")}
        for _ in range(args.repeats):       # interleaved: the same load for each
            if not args.stream_only:
                t = time.process_time()
                for it in items:
                    model.segment(it["y"], it["sr"])
                best["offline"] = min(best["offline"], time.process_time() - t)
            cpu = sum(stream_events(it["y"], it["sr"], method, model, lag, args.chunk)[2]
                      for it in items)
            best["stream"] = min(best["stream"], cpu)
            if args.base:
                b_stream, b_off = base_cpu(args, method)
                best["base_stream"] = min(best["base_stream"], b_stream)
                if b_off is not None:
                    best["base_offline"] = min(best.get("base_offline", float("inf")), b_off)
        out[method] = {k: {"cpu_s": round(v, 3), "x_real_time": round(dur / v, 1)}
                       for k, v in best.items() if np.isfinite(v)}
        if np.isfinite(best["offline"]):
            out[method]["stream_cost_vs_offline"] = round(best["stream"] / best["offline"], 2)
        if args.base:
            out[method]["speed_up_vs_base"] = round(best["base_stream"] / best["stream"], 2)
            if "base_offline" in best and np.isfinite(best["offline"]):
                out[method]["offline_speed_up_vs_base"] = round(
                    best["base_offline"] / best["offline"], 2)
        if args.stages:
            out[method]["stage_ms_per_s"] = stage_times(items, method, model, lag,
                                                         args.chunk)
    out["load_avg_after"] = os.getloadavg()
    return out


def events(args: argparse.Namespace) -> dict[str, Any]:
    """The neural stream's events (sound, onset, offset, emission time) on the ``speed``
    recordings at the checkout's defaults; with ``--base``, whether the base checkout's
    (in a subprocess) are the same, exactly."""
    items = speed_items(args)
    model = neural.NeuralSegmenter()
    ev = [[[e.sound, e.onset_s, e.offset_s, e.emitted_at_s]
           for e in stream_events(it["y"], it["sr"], "neural", model, args.lag, args.chunk)[0]]
          for it in items]
    out: dict[str, Any] = {"dataset": args.dataset, "sr": sorted({it["sr"] for it in items}),
                           "n_recordings": len(items), "n_events": sum(map(len, ev))}
    if not args.base:
        out["events"] = ev
        return out
    env = {**os.environ, "PYTHONPATH": os.path.join(args.base, "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, os.path.abspath(__file__), "events", "--chunk", str(args.chunk),
           "--root", args.root, "--dataset", args.dataset, "--n", str(args.n)]
    cmd += ["--lag", str(args.lag)] if args.lag is not None else []
    cmd += ["--resample", str(args.resample)] if args.resample else []
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=3600)
    base = json.loads(r.stdout)["events"]
    out["base_n_events"] = sum(map(len, base))
    out["recordings_identical"] = sum(a == b for a, b in zip(ev, base))
    out["identical"] = ev == base
    return out


def base_cpu(args: argparse.Namespace, method: str) -> tuple[float, float | None]:
    """Stream (and, without ``--stream-only``, offline) CPU seconds of the same run with
    the ``--base`` tree's ``src`` (another checkout, e.g. ``git worktree add ../base
    main``): this script in a subprocess."""
    env = {**os.environ, "PYTHONPATH": os.path.join(args.base, "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, os.path.abspath(__file__), "speed", "--repeats", "1",
           "--methods", method, "--chunk", str(args.chunk),
           "--root", args.root, "--dataset", args.dataset, "--n", str(args.n)]
    cmd += ["--lag", str(args.lag)] if args.lag is not None else []
    cmd += ["--hop", str(args.hop)] if args.hop is not None else []
    cmd += ["--resample", str(args.resample)] if args.resample else []
    cmd += ["--stream-only"] if args.stream_only else []
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=3600)
    res = json.loads(r.stdout)[method]
    return float(res["stream"]["cpu_s"]), (res["offline"]["cpu_s"] if "offline" in res else None)


def checkout_commit(path: str) -> str | None:
    """The short commit of the git checkout at ``path`` (None when it is not one)."""
    r = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    return (r.stdout.strip() or None) if r.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("what", choices=("circor", "pascal", "memory", "speed", "events"))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--root", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--train", type=int, default=400)
    p.add_argument("--lags", type=float, nargs="+", default=[0.5, 0.6, 1.0])
    p.add_argument("--chunk", type=float, default=0.02)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--sr", type=int, default=4000)
    p.add_argument("--method", default="springer2016", help="memory: the method")
    p.add_argument("--neural-model", default=None,
                   help="circor: a network trained without fold 0 (heartsound train segmenter "
                        "--method neural --fold 0); default the shipped one (in-sample)")
    p.add_argument("--methods", nargs="+", default=["springer2016", "neural"],
                   help="circor / pascal: the methods to score")
    p.add_argument("--hop", type=float, default=None, help="Stream(hop_s=...)")
    p.add_argument("--lag", type=float, default=None,
                   help="speed: the lag (default: the checkout's default for the method)")
    p.add_argument("--base", default=None,
                   help="speed: a checkout whose src/ is timed too, in the same run; "
                        "events: whose events are compared")
    p.add_argument("--stream-only", action="store_true", help="speed: no offline timing")
    p.add_argument("--dataset", choices=("pascal", "circor"), default="pascal",
                   help="speed: PASCAL set A (44.1 kHz) or CirCor fold 0 (2 kHz, --n)")
    p.add_argument("--resample", type=int, default=None,
                   help="speed: resample the recordings to this rate (Hz) first")
    p.add_argument("--stages", action="store_true", help="speed: time per stage too")
    p.add_argument("--net-context", type=int, default=None,
                   help="frames the network sees per call (streaming.emissions.NET_CONTEXT)")
    p.add_argument("--lookahead", type=float, default=None,
                   help="Stream(lookahead_s=...): the front end's lookahead (s)")
    p.add_argument("--net-lookahead", type=float, default=None,
                   help="the network's lookahead (s, streaming.stream.NET_LOOKAHEAD_S)")
    p.add_argument("--rate-every", type=float, default=None,
                   help="least seconds between heart-rate estimates (stream.RATE_EVERY_S)")
    args = p.parse_args(argv)
    STREAM_KW.clear()
    if args.net_context is not None:
        emissions.NET_CONTEXT = args.net_context
    if args.hop is not None:
        STREAM_KW["hop_s"] = args.hop
    if args.lookahead is not None:
        STREAM_KW["lookahead_s"] = args.lookahead
    if args.net_lookahead is not None:
        stream_mod.NET_LOOKAHEAD_S = args.net_lookahead
    if args.rate_every is not None:
        stream_mod.RATE_EVERY_S = args.rate_every
    t0 = time.perf_counter()
    out = {"circor": circor, "pascal": pascal, "memory": memory, "speed": speed,
           "events": events}[args.what](args)
    words = list(sys.argv[1:] if argv is None else argv)
    if args.base:  # a scratch checkout: recorded by its commit, not where it was
        out["base_commit"] = checkout_commit(args.base)
        words = [f"<checkout of {out['base_commit']}>" if w == args.base else w for w in words]
    out["command"] = portable("python benchmarks/bench_stream.py " + " ".join(words))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
