"""Do the explanations point at a murmur whose position is known? Synthetic recordings.

Builds recordings with :func:`heartsound.example.synthetic_pcg` (S1/S2 bursts over faint
noise, no murmur) and adds band-limited noise (100-400 Hz) in one phase of every beat:
``systolic`` (diamond-shaped, S1 end + 20 ms to S2 onset - 30 ms, as the bundled example),
``diastolic`` (decrescendo, S2 end + 30 ms to the next S1 onset - 150 ms, as in aortic
regurgitation) or ``none`` (controls). Each is analysed by :func:`heartsound.analyze`
(neural segmentation, the shipped models) and, per recording, the murmur model's
attention share and occlusion share (:mod:`heartsound.classification.evidence`) in the
murmur's phase are compared with that phase's share of time (chance).

Run from the repository root: ``python scripts/faithfulness_synthetic.py [--n 20]
[--json out/faithfulness_synthetic.json]``.
"""
import argparse
import json

import numpy as np

from heartsound import analyze
from heartsound.example import synthetic_pcg
from heartsound.vocab import STATES

SR = 2000


def _band_noise(k: int, rng: np.random.Generator) -> np.ndarray:
    f = np.fft.rfftfreq(k, 1 / SR)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(k)) * ((f >= 100) & (f <= 400)), k)
    return x / (np.max(np.abs(x)) or 1.0)


def recording(kind: str, seed: int, seconds: float = 20.0, level: float = 0.25
              ) -> np.ndarray:
    """A synthetic PCG with a ``kind`` murmur (``systolic``, ``diastolic`` or ``none``)."""
    rng = np.random.default_rng(1000 + seed)
    bpm = float(rng.uniform(60, 100))
    y, rows = synthetic_pcg(seconds=seconds, sr=SR, bpm=bpm, systole_s=0.3 * (75 / bpm) ** 0.5,
                            murmur=False, seed=seed)
    y = y / 0.8  # undo the example's peak normalisation (bursts back near 1)
    beats = [r for r in rows if r[2] in (1, 2, 3, 4)]
    for j in range(0, len(beats) - 3, 4):
        s1, sys, s2, dia = beats[j:j + 4]
        if kind == "systolic":
            on, off = s1[1] + 0.02, s2[0] - 0.03
            env = lambda k: 1 - np.abs(np.linspace(-1, 1, k))  # noqa: E731 - diamond
        elif kind == "diastolic":
            on, off = s2[1] + 0.03, dia[1] - 0.15
            env = lambda k: np.linspace(1, 0, k) ** 1.5  # noqa: E731 - decrescendo
        else:
            continue
        k = int(round((off - on) * SR))
        if k > 10:
            i = int(round(on * SR))
            y[i:i + k] += level * env(k) * _band_noise(k, rng)
    return 0.8 * y / np.max(np.abs(y))


def measure(kind: str, seed: int) -> list[dict]:
    """One row per task (murmur, abnormal) of one synthetic recording."""
    a = analyze(recording(kind, seed), sr=SR, tasks=("abnormal", "murmur"))
    out = []
    for task, c in a.to_dict()["classification"].items():
        att, ev = c.get("attention_by_phase") or {}, c.get("evidence_by_phase") or {}
        row = {"task": task, "kind": kind, "seed": seed, "label": c["label"],
               "score": c["decision"]["score"], "n_cycles": a.n_cycles}
        for ph in STATES:
            e = ev.get(ph) or {}
            row[f"att_{ph}"] = att.get(ph)
            row[f"time_{ph}"] = e.get("time_share")
            row[f"occ_{ph}"] = e.get("share")
            row[f"drop_{ph}"] = e.get("drop")
        out.append(row)
    return out


def summary(rows: list[dict], phase: str) -> dict:
    """Mean attention and occlusion share in ``phase`` vs its time share, over all rows
    and over those whose label is positive (Present / abnormal)."""
    def mean(rs: list[dict], key: str) -> float | None:
        v = [r[key] for r in rs if r.get(key) is not None]
        return float(np.mean(v)) if v else None

    def block(rs: list[dict]) -> dict:
        top = [max(STATES, key=lambda ph: r[f"occ_{ph}"] or 0.0) == phase for r in rs
               if r.get(f"occ_{phase}") is not None]
        return {"n": len(rs), "time_share": mean(rs, f"time_{phase}"),
                "attention_share": mean(rs, f"att_{phase}"),
                "occlusion_share": mean(rs, f"occ_{phase}"),
                "mean_drop": mean(rs, f"drop_{phase}"),
                "occlusion_top_phase": float(np.mean(top)) if top else None,
                "mean_drop_by_phase": {ph: mean(rs, f"drop_{ph}") for ph in STATES}}

    pos = [r for r in rows if r["label"] in ("Present", "abnormal")]
    return {"phase": phase, "mean_score": mean(rows, "score"), "all": block(rows),
            "positive": block(pos)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20, help="recordings per kind")
    p.add_argument("--json", default=None, help="write the per-recording rows there")
    args = p.parse_args()
    rows = [r for kind in ("systolic", "diastolic", "none") for s in range(args.n)
            for r in measure(kind, s)]
    out = {}
    for task in ("murmur", "abnormal"):
        for kind, phase in (("systolic", "systole"), ("diastolic", "diastole"),
                            ("none", "systole"), ("none", "diastole")):
            out[f"{task}/{kind}/{phase}"] = summary(
                [r for r in rows if r["kind"] == kind and r["task"] == task], phase)
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": out, "rows": rows}, fh)


if __name__ == "__main__":
    main()
