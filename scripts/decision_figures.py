"""Issue 15 figures from ``scripts/circor_decisions.py`` output: agreement of murmur and
severity (before and after severity was gated by the murmur decision) and where the
murmur model's evidence falls on CirCor recordings whose patient has a graded murmur
timing, compared with chance.

Run from the repository root: ``python scripts/decision_figures.py
out/circor_decisions.json`` (prints Markdown tables).
"""
import argparse
import collections
import json

import numpy as np

PHASES = ("S1", "systole", "S2", "diastole")
GRADED = {"Present": {"mild", "moderate_severe"}, "Absent": {"normal"}, "Unknown": {None}}


def agreement(rows: list[dict]) -> None:
    """Severity consistent with murmur, before (severity model alone) and after."""
    def agree(r: dict, key: str) -> bool:
        return r[key] in GRADED[r["murmur"]]

    n = len(rows)
    print(f"recordings: {n}")
    print("| murmur label | n | agree before | agree after |")
    print("| --- | ---: | ---: | ---: |")
    for m in ("Present", "Absent", "Unknown"):
        rs = [r for r in rows if r["murmur"] == m]
        if rs:
            b = sum(agree(r, "severity_before") for r in rs)
            a = sum(agree(r, "severity") for r in rs)
            print(f"| {m} | {len(rs)} | {b} ({100 * b / len(rs):.1f} %) | "
                  f"{a} ({100 * a / len(rs):.1f} %) |")
    b = sum(agree(r, "severity_before") for r in rows)
    a = sum(agree(r, "severity") for r in rows)
    print(f"| all | {n} | {b} ({100 * b / n:.1f} %) | {a} ({100 * a / n:.1f} %) |")
    changed = collections.Counter((r["severity_before"], r["severity"]) for r in rows
                                  if r["severity_before"] != r["severity"])
    k = sum(changed.values())
    print(f"\nseverity label changed: {k} of {n} ({100 * k / n:.1f} %)")
    print("| before | after | n |\n| --- | --- | ---: |")
    for (b_, a_), c in changed.most_common():
        print(f"| {b_} | {a_ or 'not assessable'} | {c} |")


def _mean(v: list) -> str:
    v = [x for x in v if x is not None]
    return f"{np.mean(v):.3f}" if v else "n/a"


def faithfulness(rows: list[dict], task: str, phase: str, title: str) -> None:
    """Mean share of attention and of the occlusion drop in ``phase`` vs time share."""
    print(f"\n{title} ({task} model, phase {phase})")
    print("| recordings | n | time share (chance) | attention share | attention ratio | "
          "occlusion share | occlusion ratio | phase with largest drop | "
          "mean drop of the score with S1 / systole / S2 / diastole masked |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    pos = "Present" if task == "murmur" else None
    groups = [("all", rows)]
    if pos:
        groups.append((f"predicted {pos}", [r for r in rows if r["murmur"] == pos]))
    for name, rs in groups:
        ev = [r[f"{task}_evidence"] for r in rs if r.get(f"{task}_evidence")]
        att = [r[f"{task}_attention"] for r in rs if r.get(f"{task}_attention")]
        if not ev:
            continue
        time = [e[phase]["time_share"] for e in ev]
        occ = [e[phase]["share"] for e in ev]
        occ_ratio = [e[phase]["ratio"] for e in ev]
        att_share = [a[phase] for a in att]
        att_ratio = [a[f"{phase}_ratio"] for a in att]
        top = [max(PHASES, key=lambda p: e[p]["drop"]) == phase for e in ev]
        print(f"| {name} | {len(ev)} | {_mean(time)} | {_mean(att_share)} | "
              f"{_mean(att_ratio)} | {_mean(occ)} | {_mean(occ_ratio)} | "
              f"{100 * np.mean(top):.0f} % | "
              + " / ".join(_mean([e[p]["drop"] for e in ev]) for p in PHASES) + " |")


def figure(rows: list[dict], synthetic: dict, path: str) -> None:
    """Two panels: severity/murmur agreement before and after; share of the systolic
    evidence (attention, occlusion) against chance, synthetic and CirCor."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    labels = ("Present", "Absent", "Unknown")
    for k, (key, colour) in enumerate((("severity_before", "#999999"),
                                       ("severity", "#2ca02c"))):
        v = [100 * np.mean([r[key] in GRADED[m] for r in rows if r["murmur"] == m])
             for m in labels]
        a1.bar(np.arange(3) + 0.38 * k, v, 0.38, color=colour,
               label="before (independent)" if k == 0 else "after (gated)")
    a1.set_xticks(np.arange(3) + 0.19, [f"murmur {m}" for m in labels], fontsize=8)
    a1.set_ylabel("severity consistent with murmur (%)")
    a1.set_title(f"CirCor, {len(rows)} recordings", fontsize=9)
    a1.legend(fontsize=7, loc="lower left")
    circor = [r for r in rows if r.get("murmur_evidence") and r["systolic_timing"]
              and not r["diastolic_timing"]]
    groups, vals = [], []
    for task in ("murmur", "abnormal"):
        s = synthetic[f"{task}/systolic/systole"]["all"]
        groups.append(f"synthetic\n{task} model")
        vals.append((s["time_share"], s["attention_share"], s["occlusion_share"]))
        ev = [r[f"{task}_evidence"]["systole"] for r in circor]
        groups.append(f"CirCor (n={len(circor)})\n{task} model")
        vals.append((np.mean([e["time_share"] for e in ev]),
                     np.mean([r[f"{task}_attention"]["systole"] for r in circor]),
                     np.mean([e["share"] or 0.0 for e in ev])))
    vals = np.array(vals)
    for k, (name, colour) in enumerate((("time share (chance)", "#cccccc"),
                                        ("attention share", "#1f77b4"),
                                        ("occlusion: share of the drop", "#d62728"))):
        a2.bar(np.arange(len(groups)) + 0.27 * k, vals[:, k], 0.27, color=colour, label=name)
    a2.set_xticks(np.arange(len(groups)) + 0.27, groups, fontsize=8)
    a2.set_ylabel("share in systole")
    a2.set_title("systolic murmurs: where the evidence falls", fontsize=9)
    a2.set_ylim(0, 1.12)
    a2.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", help="output of scripts/circor_decisions.py")
    p.add_argument("--synthetic", help="JSON of scripts/faithfulness_synthetic.py --json")
    p.add_argument("--png", help="write the figure there (needs --synthetic)")
    args = p.parse_args()
    with open(args.json) as fh:
        d = json.load(fh)
    rows = d["rows"]
    print(f"failed: {len(d['failed'])}")
    agreement(rows)
    timed = [r for r in rows if r.get("murmur_evidence")]
    systolic = [r for r in timed if r["systolic_timing"] and not r["diastolic_timing"]]
    both = [r for r in timed if r["diastolic_timing"]]
    for task in ("murmur", "abnormal"):
        faithfulness(systolic, task, "systole", "CirCor, systolic murmur only, at a site "
                                                "where it is heard")
        for timing in ("Early-systolic", "Mid-systolic", "Holosystolic", "Late-systolic"):
            faithfulness([r for r in systolic if r["systolic_timing"] == timing], task,
                         "systole", f"  {timing}")
        faithfulness(both, task, "diastole", "CirCor, systolic and diastolic murmur")
    if args.png and args.synthetic:
        with open(args.synthetic) as fh:
            figure(rows, json.load(fh)["summary"], args.png)


if __name__ == "__main__":
    main()
