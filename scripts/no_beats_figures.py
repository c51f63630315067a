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
    The same on synthetic artifacts (training side: the spectral threshold was chosen
    on them): speech-like voiced syllables, knocks at regular or random intervals,
    friction bursts, low-frequency movement thumps, speech with knocks; each plain and
    low-passed at 150-400 Hz (as through a chest piece), 4 of each, 20 s at 4000 Hz.
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
    python scripts/no_beats_figures.py synthetic-artifacts

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


def synthetic_artifacts(seconds: float = 20.0, reps: int = 4) -> dict[str, np.ndarray]:
    """Non-heart artifacts that repeat and stand out, ``name -> samples`` at
    :data:`ART_SR` (peak 0.5, plus a noise floor at -70 to -46 dB)."""
    from scipy.signal import butter, sosfilt
    n, out = int(seconds * ART_SR), {}
    for lowpass, seed in ((False, 0), (True, 1)):
        rng = np.random.default_rng(seed)
        for r in range(reps):
            per = rng.uniform(0.4, 1.2)
            kinds = {
                "speech": lambda: _bursts(rng, n, lambda: _syllable(rng),
                                          lambda: rng.uniform(0.03, 0.25)
                                          + (rng.random() < 0.15) * rng.uniform(0.3, 1.0)),
                "knocks_regular": lambda: _bursts(rng, n, lambda: _knock(rng),
                                                  lambda: per * rng.uniform(0.9, 1.1) - 0.08),
                "knocks_random": lambda: _bursts(rng, n, lambda: _knock(rng),
                                                 lambda: rng.exponential(0.6) - 0.03),
                "friction": lambda: _bursts(rng, n, lambda: _noise_burst(
                    rng, (0.08, 0.4), (200, 900), (300, 800)), lambda: per * rng.uniform(0.3, 1.1)),
                "movement": lambda: _bursts(rng, n, lambda: _noise_burst(
                    rng, (0.1, 0.6), (20, 120), (60, 60)), lambda: rng.uniform(0.2, 1.4)),
                "speech+knocks": lambda: (_bursts(rng, n, lambda: _syllable(rng),
                                                  lambda: rng.uniform(0.03, 0.4))
                                          + _bursts(rng, n, lambda: _knock(rng),
                                                    lambda: rng.exponential(0.6))),
            }
            for name, make in kinds.items():
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
    rows = [_row(k, v, ART_SR, args.method) for k, v in synthetic_artifacts().items()]
    return {"part": "synthetic-artifacts", "method": args.method,
            "summary": _summary(rows), "signals": rows}


def part_artifacts(args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(Path(args.root, "setA").glob("artifact__*"))
    rows = []
    for p in files:
        rec = load(p)
        rows.append(_row(p.stem, rec.y, rec.sr, args.method))
    return {"part": "artifacts", "method": args.method, "summary": _summary(rows),
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("synthetic", "synthetic-artifacts", "artifacts",
                                     "rejected", "f1"))
    ap.add_argument("--method", default="neural", choices=("neural", "springer2016"))
    ap.add_argument("--root", type=Path, help="corpus folder")
    ap.add_argument("--corpus", choices=("physionet2016", "circor2022"),
                    default="physionet2016")
    ap.add_argument("--limit", type=int, default=None, help="random subset of this size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
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
           "rejected": part_rejected, "f1": part_f1}[args.part](args)
    res["thresholds"] = dict(presence.THRESHOLDS)
    text = json.dumps(res, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
