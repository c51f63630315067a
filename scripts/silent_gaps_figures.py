"""Figures of docs/results/silent_gaps_s12.md: decisions with and without digital silence.

Recordings are read from the corpora and changed in memory only (nothing is written but
the JSON results):

* ``picked``: the ten recordings of docs/results/figure_audit_s12.md (CirCor: every 40th
  murmur Present / Absent recording of at least 15 s, three each; PhysioNet: every 97th
  abnormal / normal one, two each), as they are and with 12 s and 10 s of zeros inserted
  at 1/3 and 2/3 of them; for each, the scores of the recording itself trimmed by 8, 16,
  ..., 120 ms at the start (the models' own jitter: the yardstick for "close"; inserting
  a gap moves the analysis frames of what follows it by a fraction of a hop, as a trim
  does).
* ``shapes``: four of them with other gaps (5 s at the start, 5 s at the end, 2 s and 30 s
  in the middle) and a 60 s recording with half of it silent (the first 30 s of a0334 and
  a0001 with 30 s of zeros in the middle).
* ``causes``: on the ten gapped recordings, what moves the classifiers: their scores with
  the normalisation's statistics over the signal frames only (``norm``), the crops cut
  from the signal frames only (``crops``), crops mostly in a gap dropped (``drop``), and
  both fixes (``norm+crops``), each with the tree's segmentation for the phase channels;
  and the share of 50 Hz frames whose decoded state is that of the recording without the
  gaps (``seg_agree``, gaps cut out). Uses only functions both trees have.
* ``scan``: every ``--step``-th recording of both corpora, searched for natural stretches
  without signal (:func:`heartsound.quality_silence.no_signal_spans`); those that hold one
  are analysed.

Run it once with the code before the change and once after (``PYTHONPATH``), then
``--table`` to print the markdown tables::

    PYTHONPATH=<old src> python scripts/silent_gaps_figures.py picked --out before.json
    PYTHONPATH=src python scripts/silent_gaps_figures.py picked --out after.json
    python scripts/silent_gaps_figures.py --table before.json after.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from heartsound.io import load
from heartsound.pipeline import analyze
from heartsound.quality_silence import no_signal_spans

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("what", nargs="?", choices=("picked", "shapes", "causes", "scan"))
parser.add_argument("--root", type=Path, default=Path("../shared/data"))
parser.add_argument("--out", type=Path)
parser.add_argument("--step", type=int, default=20, help="scan: every step-th recording")
parser.add_argument("--table", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
TASKS = ("abnormal", "murmur", "severity")


def picked(root: Path) -> list[str]:
    def rows(p: Path) -> list[dict[str, str]]:
        with open(p) as fh:
            return list(csv.DictReader(fh, delimiter="\t"))
    cc, pn = rows(root / "circor2022/manifest.tsv"), rows(root / "physionet2016/manifest.tsv")
    out = []
    for lab in ("Present", "Absent"):
        out += [f"circor2022/recordings/{r['record']}.flac" for r in cc
                if r["murmur"] == lab and float(r["duration_s"]) >= 15][::40][:3]
    for lab in ("1", "-1"):
        out += [f"physionet2016/{r['subset']}/{r['record']}.flac" for r in pn
                if r["label"] == lab and float(r["duration_s"]) >= 15][::97][:2]
    return out


def insert(y: np.ndarray, sr: int, where: list[tuple[float, float]]) -> np.ndarray:
    """``y`` with ``(position as a share of y, seconds)`` stretches of zeros inserted."""
    parts, last = [], 0
    for pos, s in sorted(where):
        c = int(round(pos * len(y)))
        parts += [y[last:c], np.zeros(int(s * sr))]
        last = c
    return np.concatenate(parts + [y[last:]])


def summary(y: np.ndarray, sr: int) -> dict:
    d = analyze(y, sr=sr, evidence=False).to_dict()
    c = d["classification"]
    pres = d["segmentation"].get("presence") or {}
    return {"duration_s": d["duration_s"], "usable": d["quality"]["usable"],
            "hr": d["heart_rate_bpm"], "present_share": pres.get("present_share"),
            "typicality": (d.get("typicality") or {}).get("score"),
            **{t: [c[t]["label"], (c[t].get("decision") or {}).get("score")] for t in TASKS}}


def run_picked(root: Path) -> list[dict]:
    out = []
    for p in picked(root):
        r = load(root / p)
        y, sr = np.asarray(r.y, np.float64), r.sr
        row = {"file": p, "orig": summary(y, sr),
               "gaps": summary(insert(y, sr, [(1 / 3, 12.0), (2 / 3, 10.0)]), sr),
               "jitter": [summary(y[int(ms * sr / 1000):], sr) for ms in range(8, 128, 8)]}
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


SHAPES = {"start 5 s": [(0.0, 5.0)], "end 5 s": [(1.0, 5.0)], "middle 2 s": [(0.5, 2.0)],
          "middle 30 s": [(0.5, 30.0)]}


def run_shapes(root: Path) -> list[dict]:
    out = []
    files = [p for p in picked(root) if any(k in p for k in ("49691_TV", "50118_TV",
                                                               "a0137", "a0334"))]
    for p in files:
        r = load(root / p)
        y, sr = np.asarray(r.y, np.float64), r.sr
        row = {"file": p, "orig": summary(y, sr)}
        row.update({k: summary(insert(y, sr, w), sr) for k, w in SHAPES.items()})
        out.append(row)
        print(json.dumps(row), flush=True)
    for p in ("physionet2016/training-a/a0334.flac", "physionet2016/training-a/a0001.flac"):
        r = load(root / p)
        y, sr = np.asarray(r.y, np.float64)[: 30 * r.sr], r.sr
        row = {"file": p + " (first 30 s)", "orig": summary(y, sr),
               "60 s, half silent": summary(insert(y, sr, [(0.5, 30.0)]), sr)}
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


VARIANTS = ("as_is", "norm", "crops", "drop", "norm+crops")


def _gap_frames(n: int, times: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    gap = np.zeros(n, bool)
    for a, b in spans:
        gap |= (times >= a) & (times < b)
    return gap


def _variant_scores(y: np.ndarray, sr: int, seg: object) -> dict:
    from heartsound.classification.crops import crop_starts
    from heartsound.classification.decision import decide
    from heartsound.classification.frontend import _log_mel_raw, _std, frame_times, with_phases
    from heartsound.classification.inference import _load, _run
    from heartsound.frontend import Frontend
    fe, out = Frontend(y, sr), {}
    for t in ("abnormal", "murmur"):
        m = _load(t)
        cfg = m.frontend
        raw = _log_mel_raw(y, sr, cfg, fe)
        gap = _gap_frames(len(raw), frame_times(len(raw), cfg), no_signal_spans(y, sr))
        sig = np.flatnonzero(~gap)
        for v in VARIANTS:
            s = raw[sig] if v in ("norm", "norm+crops") else raw
            mu = s.mean() if cfg.normalize == "recording" else s.mean(axis=0, keepdims=True)
            f = ((raw - mu) / (_std(s) + 1e-6)).astype(np.float32)
            f = with_phases(f, seg, cfg) if cfg.phase_channels else f
            f = f[sig] if v in ("crops", "norm+crops") else f
            st = crop_starts(len(f), cfg)
            if v == "drop":
                st = st[[gap[i:i + cfg.crop_frames].mean() <= 0.5 for i in st]]
            lp, _ = _run(m, f, st)
            out[f"{t} {v}"] = round(float(decide(t, lp, m.meta.get("rules"))[1].score), 3)
    return out


def run_causes(root: Path) -> list[dict]:
    from heartsound.segmentation import segment
    out = []
    for p in picked(root):
        r = load(root / p)
        y, sr = np.asarray(r.y, np.float64), r.sr
        yg = insert(y, sr, [(1 / 3, 12.0), (2 / 3, 10.0)])
        s0, sg = segment(y, sr), segment(yg, sr)
        g = _gap_frames(len(sg.decoded_states), np.arange(len(sg.decoded_states)) / 50.0,
                        no_signal_spans(yg, sr))
        kept = sg.decoded_states[~g]
        m = min(len(kept), len(s0.decoded_states))
        row = {"file": p, "seg_agree": round(float(np.mean(kept[:m] == s0.decoded_states[:m])), 3),
               "hr": [s0.median_heart_rate_bpm, sg.median_heart_rate_bpm],
               **_variant_scores(yg, sr, sg)}
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def run_scan(root: Path, step: int) -> list[dict]:
    files = (sorted((root / "physionet2016").glob("training-*/*.flac"))
             + sorted((root / "circor2022/recordings").glob("*.flac")))[::step]
    out = []
    for f in files:
        r = load(f)
        spans = no_signal_spans(r.y, r.sr)
        if not spans:
            continue
        row = {"file": str(f.relative_to(root)), "spans": spans,
               "result": summary(np.asarray(r.y, np.float64), r.sr)}
        out.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"scanned": len(files), "with_stretches": len(out)}), flush=True)
    return out


def _cell(s: dict) -> str:
    def one(t: str) -> str:
        lab, sc = s[t]
        return "n.a." if lab is None and sc is None else f"{lab} {sc:.2f}" if sc is not None \
            else str(lab)
    pres = s.get("present_share")
    return " / ".join(one(t) for t in TASKS) + (f" (presence {pres:.2f})" if pres is not None
                                                 else "")


def table(before: Path, after: Path) -> None:
    b, a = json.loads(before.read_text()), json.loads(after.read_text())
    for rb, ra in zip(b, a):
        name = rb["file"].split("/")[-1]
        keys = [k for k in ra if k not in ("file", "orig", "jitter")]
        for k in keys:
            print(f"| {name} | {k} | {_cell(ra['orig'])} | {_cell(rb[k])} | {_cell(ra[k])} |")
        if "jitter" in ra:
            rng = []
            for t in ("abnormal", "murmur"):
                js = [j[t][1] for j in ra["jitter"] + [ra["orig"]] if j[t][1] is not None]
                flips = sum(j[t][0] != ra["orig"][t][0] for j in ra["jitter"])
                rng.append(f"{t} {min(js):.2f}-{max(js):.2f} ({flips} of "
                           f"{len(ra['jitter'])} labels differ)")
            print(f"|  | trimmed 8-120 ms | {'; '.join(rng)} | | |")


if __name__ == "__main__":
    args = parser.parse_args()
    if args.table:
        table(*args.table)
    else:
        res = {"picked": lambda: run_picked(args.root), "shapes": lambda: run_shapes(args.root),
               "causes": lambda: run_causes(args.root),
               "scan": lambda: run_scan(args.root, args.step)}[args.what]()
        if args.out:
            args.out.write_text(json.dumps(res, indent=1))
