"""Figures of "no heart sounds, no beats" (docs/results/no_beats.md).

Each part prints one JSON object (and writes it to ``--out`` when given):

``synthetic``
    Events per minute and heart rates reported on synthetic non-heart signals (white and
    pink noise, DC, 50 Hz hum, a 150 Hz tone, near-silence; 30 s each), and on the
    example's noise tail.
``artifacts``
    The same on PASCAL 2011 set A ``artifact`` recordings (a test set: never tuned on).
``rejected``
    Share of recordings with no heart sounds found (no events, heart rate null) on
    PhysioNet 2016 (every included recording, per database) or CirCor 2022.
``synthetic-artifacts``
    The same on synthetic artifacts (training side): 11 kinds (speech-like syllables,
    regular and random knocks, friction, movement thumps, speech with knocks, music,
    music with a bass line, feedback tones, stethoscope handling, breathing), each plain
    and low-passed at 150-400 Hz (as through a chest piece), 6 of each, 20 s at
    4000 Hz; ``--half choose`` and ``--half report`` (the heart score is fitted and
    its threshold chosen on them, since session 10) or ``--half final`` ... ``final4``
    (other seeds, each made before a change was tried, and only reported; see
    :data:`ART_HALVES`).
``cache``, ``tune``, ``fit``, ``auc``
    Segment the training-side sets once and keep what the presence decision reads, with
    the 25-400 Hz signal and the segmenter's posteriors (``--cache DIR``, outside the
    repository: ~300 MB per method; set ``circor-loud``: every CirCor recording with a
    grade III/VI murmur);
    decide them again over a grid of thresholds (``tune``); fit the heart score with
    cross-validation grouped by recording (``fit``); separation of heart and artifact
    runs by each run input alone (``auc``).
``runtime``
    Share of the segmentation time spent in ``presence.apply``.
``f1``
    Segmentation F1 (60 ms, segment centres) on a seeded random subset of annotated
    CirCor 2022 recordings, to compare before/after (run it with ``PYTHONPATH`` set to
    either checkout).

Usage::

    python scripts/no_beats_figures.py synthetic --method neural
    python scripts/no_beats_figures.py artifacts --root ../shared/data/pascal2011
    python scripts/no_beats_figures.py rejected --corpus physionet2016 \\
        --root ../shared/data/physionet2016
    python scripts/no_beats_figures.py rejected --corpus circor2022 \\
        --root ../shared/data/circor2022 --limit 600
    python scripts/no_beats_figures.py f1 --root ../shared/data/circor2022 --limit 300
    python scripts/no_beats_figures.py synthetic-artifacts --half choose
    python scripts/no_beats_figures.py cache --cache DIR --root ../shared/data
    python scripts/no_beats_figures.py fit --cache DIR --scores 0.01,0.02,0.05
    python scripts/no_beats_figures.py auc --cache DIR

``--set KEY=VALUE`` overrides a value of ``presence.THRESHOLDS`` for the run (the table
over thresholds in docs/results/no_beats.md).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.errors import HeartsoundError
from heartsound.example import EXAMPLE_SR, synthetic_pcg
from heartsound.io import load
from heartsound.segmentation import presence, segment

SR = 2000
ART_SR = 4000


def synthetic_signals(seconds: float = 30.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Non-heart test signals, ``name -> samples`` at :data:`SR`."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f = np.fft.rfftfreq(n, 1 / SR)
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(f, 1.0)), n)
    return {"white_noise": 0.1 * rng.standard_normal(n),
            "pink_noise": 0.3 * pink / np.abs(pink).max(),
            "dc": np.full(n, 0.5), "hum_50hz": 0.3 * np.sin(2 * np.pi * 50 * t),
            "tone_150hz": 0.3 * np.sin(2 * np.pi * 150 * t),
            "near_silence": 1e-5 * rng.standard_normal(n)}


def _resonate(x: np.ndarray, f: float, bw: float) -> np.ndarray:
    """Two-pole resonator at ``f`` Hz, bandwidth ``bw`` Hz, at :data:`ART_SR`."""
    from scipy.signal import lfilter
    r, th = np.exp(-np.pi * bw / ART_SR), 2 * np.pi * f / ART_SR
    return lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], x)


def _bursts(rng: np.random.Generator, n: int, make, gap) -> np.ndarray:
    """Sum of bursts ``make()`` placed one after another with gaps ``gap()`` (s)."""
    y, t = np.zeros(n), int(rng.uniform(0, 0.5) * ART_SR)
    while t < n:
        b = make()
        e = min(n, t + b.size)
        y[t:e] += b[: e - t]
        t += b.size + int(gap() * ART_SR)
    return y


def _syllable(rng: np.random.Generator) -> np.ndarray:
    m = int(rng.uniform(0.12, 0.35) * ART_SR)
    src = np.zeros(m)
    src[:: int(ART_SR / rng.uniform(100, 230))] = 1.0  # glottal pulses
    src += 0.05 * rng.standard_normal(m)
    formants = (rng.uniform(300, 800), rng.uniform(900, 1600), rng.uniform(1700, 1950))
    return sum(_resonate(src, f, 80) for f in formants) * np.hanning(m)


def _knock(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.08 * ART_SR)) / ART_SR
    k = np.exp(-t / rng.uniform(0.005, 0.03)) * np.sin(2 * np.pi * rng.uniform(60, 600) * t)
    k[:3] += rng.uniform(0.5, 2) * np.sign(rng.standard_normal(3))
    return k * rng.uniform(0.5, 1.5)


def _noise_burst(rng: np.random.Generator, dur: tuple[float, float], f: tuple[float, float],
                 bw: tuple[float, float]) -> np.ndarray:
    m = int(rng.uniform(*dur) * ART_SR)
    return _resonate(rng.standard_normal(m), rng.uniform(*f), rng.uniform(*bw)) * np.hanning(m)


def _note(rng: np.random.Generator, f0: tuple[float, float]) -> np.ndarray:
    """A musical note: 3-6 harmonics of ``f0`` Hz, attack-decay envelope, 0.12-0.6 s."""
    m = int(rng.uniform(0.12, 0.6) * ART_SR)
    t = np.arange(m) / ART_SR
    f = rng.uniform(*f0)
    y = sum(rng.uniform(0.2, 1) / k * np.sin(2 * np.pi * k * f * t)
            for k in range(1, int(rng.integers(3, 7))))
    return y * np.minimum(1, t / 0.01) * np.exp(-t / rng.uniform(0.1, 0.5))


def _feedback(rng: np.random.Generator, n: int) -> np.ndarray:
    """Acoustic feedback: a tone of 250-2000 Hz with slow vibrato that swells and stops."""
    t = np.arange(n) / ART_SR
    f = rng.uniform(250, 2000) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
    tone = np.sin(2 * np.pi * np.cumsum(f) / ART_SR)
    gate = _bursts(rng, n, lambda: np.hanning(int(rng.uniform(0.3, 3) * ART_SR)),
                   lambda: rng.uniform(0.1, 2))
    return tone * gate


def _handling(rng: np.random.Generator, n: int) -> np.ndarray:
    """Stethoscope handling: clusters of thumps and scrapes at irregular times."""
    def cluster() -> np.ndarray:
        parts = [_knock(rng) if rng.random() < 0.5 else
                 _noise_burst(rng, (0.05, 0.3), (30, 600), (50, 500))
                 for _ in range(int(rng.integers(1, 5)))]
        return np.concatenate([np.concatenate([p, np.zeros(int(rng.uniform(0.02, 0.2)
                                                             * ART_SR))]) for p in parts])
    return _bursts(rng, n, cluster, lambda: rng.exponential(0.8))


def _breathing(rng: np.random.Generator, n: int) -> np.ndarray:
    """Breath sounds: 150-1200 Hz noise, inhalation and exhalation every 2.5-5 s."""
    per = rng.uniform(2.5, 5)
    return _bursts(rng, n, lambda: _noise_burst(rng, (0.8, 1.6) if rng.random() < 0.5
                                                else (0.5, 1.2), (150, 1200), (200, 900)),
                   lambda: rng.uniform(0.1, 0.25) * per)


def _artifact_kinds(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Makers of one artifact signal of ``n`` samples per kind (names are stable)."""
    per = rng.uniform(0.4, 1.2)

    def syl() -> np.ndarray:
        return _syllable(rng)

    def knock() -> np.ndarray:
        return _knock(rng)

    return {
        "speech": lambda: _bursts(rng, n, syl, lambda: rng.uniform(0.03, 0.25)
                                  + (rng.random() < 0.15) * rng.uniform(0.3, 1.0)),
        "knocks_regular": lambda: _bursts(rng, n, knock,
                                          lambda: per * rng.uniform(0.9, 1.1) - 0.08),
        "knocks_random": lambda: _bursts(rng, n, knock, lambda: rng.exponential(0.6) - 0.03),
        "friction": lambda: _bursts(rng, n, lambda: _noise_burst(
            rng, (0.08, 0.4), (200, 900), (300, 800)), lambda: per * rng.uniform(0.3, 1.1)),
        "movement": lambda: _bursts(rng, n, lambda: _noise_burst(
            rng, (0.1, 0.6), (20, 120), (60, 60)), lambda: rng.uniform(0.2, 1.4)),
        "speech+knocks": lambda: (_bursts(rng, n, syl, lambda: rng.uniform(0.03, 0.4))
                                  + _bursts(rng, n, knock, lambda: rng.exponential(0.6))),
        "music": lambda: _bursts(rng, n, lambda: _note(rng, (150, 700)),
                                 lambda: rng.choice([0.0, 0.05, 0.1, 0.2])),
        "music_bass": lambda: (_bursts(rng, n, lambda: _note(rng, (40, 130)),
                                       lambda: per / 2 * rng.choice([1, 1, 2]) - 0.2)
                               + 0.5 * _bursts(rng, n, lambda: _note(rng, (200, 800)),
                                               lambda: rng.uniform(0, 0.3))),
        "feedback": lambda: _feedback(rng, n),
        "handling": lambda: _handling(rng, n),
        "breathing": lambda: _breathing(rng, n),
    }


#: Seeds of the sets of :func:`synthetic_artifacts`: ``(plain, low-passed)``. "final"
#: (session 10) was made before any change of that session and is only reported, once
#: the model and the threshold are fixed; "final2" was made after "final" had been
#: looked at, before the model was changed again, and is only reported; "final3"
#: (session 10, second pass) was made before two-sided inputs were tried, only reported;
#: "final4" (session 11) was made before the segmenter's confidence was measured, only
#: reported.
ART_HALVES = {"choose": (0, 1), "report": (2, 3), "final": (4, 5), "final2": (6, 7),
              "final3": (8, 9), "final4": (10, 11)}


def synthetic_artifacts(seconds: float = 20.0, reps: int = 6, half: str = "choose"
                        ) -> dict[str, np.ndarray]:
    """Non-heart artifacts that repeat and stand out, ``name -> samples`` at
    :data:`ART_SR` (peak 0.5, plus a noise floor at -70 to -46 dB).

    11 kinds, each plain and low-passed at 150-400 Hz (as through a chest piece), ``reps``
    of each: ``half`` "choose" and "report" (the heart score is fitted and its threshold
    chosen on them) and "final" (other seeds, only reported) never share a signal.
    """
    from scipy.signal import butter, sosfilt
    n, out = int(seconds * ART_SR), {}
    for lowpass, seed in zip((False, True), ART_HALVES[half]):
        rng = np.random.default_rng(seed)
        for r in range(reps):
            for name, make in _artifact_kinds(rng, n).items():
                y = make()
                if lowpass:
                    y = sosfilt(butter(2, rng.uniform(150, 400), fs=ART_SR, output="sos"), y)
                y = 0.5 * y / np.abs(y).max()
                y += 10 ** rng.uniform(-3.5, -2.3) * rng.standard_normal(n)
                out[f"{name}{'_lp' if lowpass else ''}_{r}"] = y
    return out


def _row(name: str, y: np.ndarray, sr: int, method: str) -> dict[str, Any]:
    seg = segment(y, sr, method=method)
    dur = len(y) / sr
    pres = getattr(seg, "presence", None) or {}  # None before the presence check
    return {"name": name, "duration_s": round(dur, 2), "n_events": len(seg.events()),
            "events_per_min": round(60 * len(seg.events()) / dur, 2),
            "heart_rate_bpm": seg.median_heart_rate_bpm,
            "heart_sounds": getattr(seg, "heart_sounds", True),
            "present_share": pres.get("present_share"),
            "n_sounds_decoded": pres.get("n_sounds_decoded"),
            "n_sounds_prominent": pres.get("n_sounds_prominent"),
            "n_sounds_kept": pres.get("n_sounds_kept"),
            "median_prominence": pres.get("median_prominence"),
            "median_low_share": pres.get("median_low_share"),
            "reason": pres.get("reason")}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    dur = sum(r["duration_s"] for r in rows)
    return {"n": len(rows), "events_per_min": round(60 * sum(r["n_events"] for r in rows)
                                                    / max(dur, 1e-9), 3),
            "n_with_heart_rate": sum(r["heart_rate_bpm"] is not None for r in rows),
            "n_with_events": sum(r["n_events"] > 0 for r in rows),
            "n_no_heart_sounds": sum(not r["heart_sounds"] for r in rows)}


def part_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    rows = [_row(k, v, SR, args.method) for k, v in synthetic_signals().items()]
    y, true_rows = synthetic_pcg()
    seg = segment(y, EXAMPLE_SR, method=args.method)
    tail = true_rows[-1][0]
    in_tail = [e.to_dict() for e in seg.events() if e.offset_s > tail]
    return {"part": "synthetic", "method": args.method, "summary": _summary(rows),
            "signals": rows, "example_tail_start_s": tail,
            "example_events_in_tail": in_tail,
            "example_n_events": len(seg.events())}


def part_synthetic_artifacts(args: argparse.Namespace) -> dict[str, Any]:
    rows = [_row(k, v, ART_SR, args.method)
            for k, v in synthetic_artifacts(half=args.half).items()]
    return {"part": "synthetic-artifacts", "method": args.method, "half": args.half,
            "summary": _summary(rows), "signals": rows}


def part_artifacts(args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(Path(args.root, "setA").glob(f"{args.kind}__*"))
    rows, unreadable = [], {}
    for p in files:
        try:
            rec = load(p)
        except HeartsoundError as exc:  # e.g. shorter than one cycle: not counted
            unreadable[p.stem] = str(exc).replace(str(p), p.name)
            continue
        rows.append(_row(p.stem, rec.y, rec.sr, args.method))
    return {"part": "artifacts", "method": args.method, "kind": args.kind,
            "summary": _summary(rows), "unreadable": unreadable,
            "recordings": rows}


def _corpus_files(corpus: str, root: Path, limit: int | None, seed: int
                  ) -> list[tuple[str, Path]]:
    with open(root / "manifest.tsv", newline="") as fh:
        man = list(csv.DictReader(fh, delimiter="\t"))
    if corpus == "physionet2016":
        items = [(r["subset"], root / r["subset"] / f"{r['record']}.flac")
                 for r in man if r.get("included", "1") == "1"]
    else:
        items = [(r["murmur"], root / "recordings" / f"{r['record']}.flac") for r in man]
    if limit is not None and limit < len(items):
        idx = np.sort(np.random.default_rng(seed).choice(len(items), limit, replace=False))
        items = [items[i] for i in idx]
    return items


def part_rejected(args: argparse.Namespace) -> dict[str, Any]:
    items = _corpus_files(args.corpus, Path(args.root), args.limit, args.seed)
    groups: dict[str, list[dict[str, Any]]] = {}
    for g, p in items:
        rec = load(p)
        r = _row(p.stem, rec.y, rec.sr, args.method)
        groups.setdefault(g, []).append(r)
    by_group = {}
    for g, rows in sorted(groups.items()):
        rej = [r for r in rows if not r["heart_sounds"]]
        by_group[g] = {"n": len(rows), "rejected": len(rej),
                       "share": round(len(rej) / len(rows), 4),
                       "rejected_ids": [r["name"] for r in rej],
                       "present_shares": {r["name"]: r["present_share"] for r in rows},
                       "median_low_shares": {r["name"]: r["median_low_share"]
                                             for r in rows}}
    n = sum(v["n"] for v in by_group.values())
    k = sum(v["rejected"] for v in by_group.values())
    return {"part": "rejected", "corpus": args.corpus, "method": args.method,
            "limit": args.limit, "seed": args.seed, "n": n, "rejected": k,
            "share": round(k / max(n, 1), 4), "by_group": by_group}


def part_f1(args: argparse.Namespace) -> dict[str, Any]:
    from heartsound.datasets import circor2022
    from heartsound.evaluation.segmentation import evaluate

    recs = [r for r in circor2022.read(args.root) if r.annotation_path is not None]
    if args.limit is not None and args.limit < len(recs):
        idx = np.sort(np.random.default_rng(args.seed).choice(len(recs), args.limit,
                                                               replace=False))
        recs = [recs[i] for i in idx]
    res = evaluate("circor2022", args.root, lambda y, sr: segment(y, sr, method=args.method),
                   records=recs)
    return {"part": "f1", "method": args.method, "limit": args.limit, "seed": args.seed,
            "n_recordings": res["n_recordings"], "60ms": res["by_tolerance"]["60ms"]}


def _cache_items(which: str, args: argparse.Namespace):
    """``(name, group, is_heart, y, sr)`` of one training-side set of ``cache``."""
    if which.startswith("artifacts-"):
        for k, v in synthetic_artifacts(half=which.split("-", 1)[1]).items():
            yield k, k.rsplit("_", 1)[0], False, v, ART_SR
        return
    if which == "circor-loud":  # every CirCor recording with a grade III/VI murmur
        root = Path(args.root) / "circor2022"
        with open(root / "manifest.tsv", newline="") as fh:
            loud = [r["record"] for r in csv.DictReader(fh, delimiter="\t")
                    if r["systolic_murmur_grading"] == "III/VI"]
        for name in loud:
            rec = load(root / "recordings" / f"{name}.flac")
            yield name, "III/VI", True, rec.y, rec.sr
        return
    corpus, limit = {"physionet": ("physionet2016", None),
                     "circor": ("circor2022", 600)}[which]
    root = Path(args.root) / corpus
    for g, p in _corpus_files(corpus, root, limit, args.seed):
        rec = load(p)
        yield p.stem, g, True, rec.y, rec.sr


def part_cache(args: argparse.Namespace) -> dict[str, Any]:
    """Segment each training-side set once and keep what the presence decision reads
    (:func:`presence.measure`) in ``--cache`` (a pickle per set), for ``tune``."""
    import pickle

    from heartsound.frontend import as_frontend
    out = {}
    for which in args.sets.split(","):
        rows = []
        for name, g, heart, y, sr in _cache_items(which, args):
            fe = as_frontend(y, sr)
            seg = segment(y, sr, method=args.method, frontend=fe)
            st = seg.decoded_states
            rows.append({"name": name, "group": g, "heart": heart, "states": st,
                         "frame_rate": seg.frame_rate, "duration_s": len(y) / sr,
                         "band_rms": presence._band_rms(fe, presence.THRESHOLDS["flat_rms"]),
                         "clean": np.asarray(fe.clean(), dtype=np.float32),
                         "posteriors": np.asarray(presence.aligned_posteriors(seg),
                                                  dtype=np.float32)})
        path = Path(args.cache) / f"{which}_{args.method}.pkl"
        path.write_bytes(pickle.dumps(rows))
        out[which] = len(rows)
    return {"part": "cache", "method": args.method, "n": out}


class _CachedFrontend:
    """The two signals :func:`presence.measure` reads, rebuilt from a cached
    ``clean`` signal (so that ``tune`` and ``fit`` measure with the current code)."""

    def __init__(self, clean: np.ndarray) -> None:
        self._clean = np.asarray(clean, dtype=np.float64)
        self._hilbert: np.ndarray | None = None

    def clean(self) -> np.ndarray:
        return self._clean

    def hilbert(self) -> np.ndarray:
        from heartsound.features import hilbert_envelope
        if self._hilbert is None:
            self._hilbert = hilbert_envelope(self._clean)
        return self._hilbert


def load_cached(cache: Path, which: str, method: str) -> list[dict[str, Any]]:
    """The rows of one cached set, with ``ev`` measured again from the cached signal."""
    import pickle

    rows = pickle.loads((Path(cache) / f"{which}_{method}.pkl").read_bytes())
    for r in rows:
        if "clean" in r:
            r["ev"] = presence.measure(r["states"], _CachedFrontend(r.pop("clean")),
                                       r["frame_rate"], posteriors=r.get("posteriors"))
    return rows


def evaluate_cached(rows: list[dict[str, Any]], th: dict[str, float],
                    method: str = "neural") -> dict[str, Any]:
    """Decision, events per minute and heart rates of cached recordings under ``th``."""
    from heartsound.segmentation.result import Segmentation
    hr, rej, ev_n, dur, runs = [], [], 0, 0.0, []
    for r in rows:
        gated, info, rr = presence.decide(r["states"], r["ev"], th, method, evidence=True)
        runs += [{**x, "name": r["name"], "heart": r["heart"], "group": r["group"]}
                 for x in rr]
        info["heart_sounds"] = True
        if presence.reason(info, r["band_rms"], th) is not None:
            rej.append(r["name"])
            gated = np.zeros_like(gated)
        seg = Segmentation(states=gated, frame_rate=r["frame_rate"], method="cached",
                           heart_rate_bpm=0.0, systolic_interval_s=0.0)
        ev_n += len(seg.events())
        dur += r["duration_s"]
        if seg.median_heart_rate_bpm is not None:
            hr.append(r["name"])
    return {"n": len(rows), "rejected": rej, "with_heart_rate": hr,
            "events_per_min": round(60 * ev_n / max(dur, 1e-9), 2), "runs": runs}


def part_tune(args: argparse.Namespace) -> dict[str, Any]:
    """Rejections and false heart rates over a grid of run thresholds, from ``cache``."""
    import itertools

    sets = {w: load_cached(args.cache, w, args.method) for w in args.sets.split(",")}
    grid = {}
    for kv in args.grid:
        k, vals = kv.split("=", 1)
        grid[k] = [float(v) for v in vals.split(",")]
    table = []
    for combo in itertools.product(*grid.values()):
        th = {**presence.THRESHOLDS, **dict(zip(grid, combo))}
        row: dict[str, Any] = {"thresholds": dict(zip(grid, combo))}
        for w, rows in sets.items():
            res = evaluate_cached(rows, th, args.method)
            heart = rows[0]["heart"] if rows else True
            row[w] = ({"rejected": len(res["rejected"]), "ids": res["rejected"]} if heart
                      else {"with_heart_rate": len(res["with_heart_rate"]),
                            "ids": res["with_heart_rate"],
                            "events_per_min": res["events_per_min"]})
        table.append(row)
    return {"part": "tune", "method": args.method, "grid": grid, "table": table}


def _fit_runs(runs: list[dict[str, Any]], features: tuple[str, ...], c: float = 1.0,
              group_weight: dict[str, float] | None = None) -> dict[str, Any]:
    """Standardised logistic regression, heart runs vs artifact runs (balanced; a run of
    a group in ``group_weight``, e.g. CirCor's murmur "Present", weighs that much)."""
    from sklearn.linear_model import LogisticRegression

    from heartsound.segmentation.run_evidence import run_vector
    x = np.array([run_vector(r, features) for r in runs])
    y = np.array([r["heart"] for r in runs], dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    w = np.array([(group_weight or {}).get(r.get("group"), 1.0) for r in runs])
    w[y == 1] *= len(y) / (2 * w[y == 1].sum())  # classes balanced
    w[y == 0] *= len(y) / (2 * w[y == 0].sum())
    lr = LogisticRegression(C=c, max_iter=1000)
    lr.fit((x - mean) / scale, y, sample_weight=w)
    return {"mean": mean, "scale": scale, "coef": lr.coef_[0],
            "intercept": float(lr.intercept_[0]), "features": features}


def _counts(sets: dict[str, list[dict[str, Any]]], th: dict[str, float],
            method: str) -> dict[str, Any]:
    """Rejected heart recordings and artifacts given a heart rate, per set."""
    out = {}
    for w, rows in sets.items():
        res = evaluate_cached(rows, th, method)
        heart = rows[0]["heart"] if rows else True
        out[w] = ({"rejected": res["rejected"]} if heart else
                  {"with_heart_rate": res["with_heart_rate"],
                   "events_per_min": res["events_per_min"]})
    return out


def part_fit(args: argparse.Namespace) -> dict[str, Any]:
    """Fit :func:`run_evidence.heart_score` on the training side (``--train``: by default
    PhysioNet, CirCor and the synthetic artifacts "choose" and "report"): grouped 5-fold
    cross-validation by recording (out-of-fold decisions over a grid of
    ``min_heart_score``), then the model on all of it, deciding the training sets again
    (in-sample). Inputs: ``--features`` (names of ``run_evidence.RUN_INPUTS``)."""
    from heartsound.segmentation import run_evidence
    train_sets = tuple(args.train.split(","))
    features = (tuple(args.features.split(",")) if args.features
                else run_evidence.RUN_FEATURES)
    sets = {w: load_cached(args.cache, w, args.method) for w in train_sets}
    gw = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.group_weight)}
    base = {**presence.THRESHOLDS, "min_heart_score": 0.0}
    runs = {w: [r for r in evaluate_cached(sets[w], base, args.method)["runs"]
                if r["low_share"] >= base["min_low_share"]] for w in train_sets}
    keys = sorted({(w, r["name"]) for w in train_sets for r in sets[w]})
    fold = dict(zip(keys, np.random.default_rng(args.seed).integers(0, 5, len(keys))))
    grid = [float(v) for v in args.scores.split(",")]
    oof: dict[float, dict[str, list[str]]] = {t: {w: [] for w in train_sets} for t in grid}
    saved = dict(run_evidence.RUN_MODELS)
    try:
        for k in range(5):
            run_evidence.RUN_MODELS[args.method] = _fit_runs(
                [r for w in train_sets for r in runs[w] if fold[w, r["name"]] != k],
                features, args.c, gw)
            sub = {w: [r for r in sets[w] if fold[w, r["name"]] == k] for w in train_sets}
            for t in grid:
                for w, v in _counts(sub, {**base, "min_heart_score": t},
                                    args.method).items():
                    oof[t][w].extend(v.get("rejected", v.get("with_heart_rate")))
        model = _fit_runs([r for w in train_sets for r in runs[w]], features, args.c, gw)
        run_evidence.RUN_MODELS[args.method] = model
        final = {t: _counts(sets, {**base, "min_heart_score": t}, args.method) for t in grid}
    finally:
        run_evidence.RUN_MODELS.clear()
        run_evidence.RUN_MODELS.update(saved)
    return {"part": "fit", "method": args.method, "seed": args.seed, "c": args.c,
            "train": list(train_sets), "group_weight": gw,
            "n_runs": {w: len(v) for w, v in runs.items()},
            "model": {k: (list(v) if k == "features" else np.round(np.asarray(v), 4).tolist())
                      for k, v in model.items()},
            "oof": {str(t): {w: {"n": len(ids), "ids": ids} for w, ids in v.items()}
                    for t, v in oof.items()},
            "final": {str(t): v for t, v in final.items()}}


def part_auc(args: argparse.Namespace) -> dict[str, Any]:
    """Separation of heart runs (``--train`` heart sets) from artifact runs by each input
    of ``run_evidence.RUN_INPUTS`` alone: the area under the ROC curve (0.5: none; below
    0.5: artifacts higher), over the loud runs with low share >= ``min_low_share``."""
    from sklearn.metrics import roc_auc_score

    from heartsound.segmentation.run_evidence import RUN_INPUTS
    base = {**presence.THRESHOLDS, "min_heart_score": 0.0}
    runs = []
    for w in args.train.split(","):
        runs += [r for r in evaluate_cached(load_cached(args.cache, w, args.method), base,
                                            args.method)["runs"]
                 if r["low_share"] >= base["min_low_share"]]
    y = np.array([r["heart"] for r in runs], dtype=int)
    out = {}
    for k, fn in RUN_INPUTS.items():
        v = np.array([fn(r) for r in runs])
        q = {c: np.percentile(v[y == lab], [5, 50, 95]).round(3).tolist()
             for c, lab in (("heart", 1), ("artifact", 0))}
        out[k] = {"auc": round(float(roc_auc_score(y, v)), 4), **q}
    return {"part": "auc", "method": args.method, "train": args.train,
            "n_runs": {"heart": int(y.sum()), "artifact": int((1 - y).sum())}, "inputs": out}


def part_runtime(args: argparse.Namespace) -> dict[str, Any]:
    """Share of the segmentation time spent in :func:`presence.apply` (2 included
    PhysioNet recordings of each database, seed ``--seed``; the second of two passes)."""
    import time

    items = _corpus_files("physionet2016", Path(args.root), None, args.seed)
    rng = np.random.default_rng(args.seed)
    picked = []
    for g in sorted({g for g, _ in items}):
        paths = [p for h, p in items if h == g]
        picked += [paths[i] for i in rng.choice(len(paths), 2, replace=False)]
    recs = [load(p) for p in picked]
    inner = presence.apply
    spent = [0.0]

    def timed(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t0

    presence.apply = timed
    try:
        for _ in range(2):
            spent[0], t0 = 0.0, time.perf_counter()
            for r in recs:
                segment(r.y, r.sr, method=args.method)
            total = time.perf_counter() - t0
    finally:
        presence.apply = inner
    return {"part": "runtime", "method": args.method, "recordings": [p.stem for p in picked],
            "segment_s": round(total, 3), "presence_s": round(spent[0], 3),
            "presence_share": round(spent[0] / total, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("synthetic", "synthetic-artifacts", "artifacts",
                                     "rejected", "f1", "cache", "tune", "fit", "auc",
                                     "runtime"))
    ap.add_argument("--method", default="neural", choices=("neural", "springer2016"))
    ap.add_argument("--root", type=Path, help="corpus folder")
    ap.add_argument("--corpus", choices=("physionet2016", "circor2022"),
                    default="physionet2016")
    ap.add_argument("--limit", type=int, default=None, help="random subset of this size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--kind", default="artifact",
                    help="artifacts: PASCAL set A class (artifact, normal, murmur, extrahls)")
    ap.add_argument("--half", choices=tuple(ART_HALVES), default="choose",
                    help="synthetic-artifacts: which half")
    ap.add_argument("--cache", type=Path, help="folder of the cache/tune pickles")
    ap.add_argument("--sets", default="physionet,circor,artifacts-choose",
                    help="cache/tune: comma-separated sets (physionet, circor, "
                         "circor-loud: every grade III/VI murmur, artifacts-<half>)")
    ap.add_argument("--scores", default="0.1,0.2,0.3,0.4,0.5",
                    help="fit: values of min_heart_score to try")
    ap.add_argument("--c", type=float, default=1.0, help="fit: inverse regularisation")
    ap.add_argument("--train", default="physionet,circor,artifacts-choose,artifacts-report",
                    help="fit: the cached sets to fit and cross-validate on")
    ap.add_argument("--group-weight", action="append", default=[], metavar="GROUP=W",
                    help="fit: weight of the runs of a group (e.g. Present=3: CirCor "
                         "recordings with a murmur)")
    ap.add_argument("--features", default=None,
                    help="fit: comma-separated run_evidence.RUN_INPUTS (default RUN_FEATURES)")
    ap.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                    help="tune: threshold values to try")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override presence.THRESHOLDS[KEY] for this run")
    args = ap.parse_args()
    for kv in args.set:
        key, value = kv.split("=", 1)
        if key not in presence.THRESHOLDS:
            ap.error(f"--set: unknown threshold {key!r}")
        presence.THRESHOLDS[key] = float(value)
    res = {"synthetic": part_synthetic, "synthetic-artifacts": part_synthetic_artifacts,
           "artifacts": part_artifacts,
           "rejected": part_rejected, "f1": part_f1, "cache": part_cache,
           "tune": part_tune, "fit": part_fit, "auc": part_auc,
           "runtime": part_runtime}[args.part](args)
    res["thresholds"] = dict(presence.THRESHOLDS)
    text = json.dumps(res, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
