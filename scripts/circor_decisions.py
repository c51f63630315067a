"""Run ``heartsound.analyze`` on every CirCor recording and keep what issue 15's figures
need: murmur and severity labels (after, and the severity model's own label before the
murmur gate), and for recordings at a site where the patient's murmur is heard, the murmur
model's attention and occlusion evidence per phase.

Run from the repository root::

    OMP_NUM_THREADS=1 python scripts/circor_decisions.py --root ../shared/data/circor2022 \\
        --out out/circor_decisions.json

then ``python scripts/decision_figures.py out/circor_decisions.json``. The shipped murmur
and severity models were trained on all of CirCor, so the explanation figures here are
in-sample: they say where the model's evidence lies on recordings it has seen, not how
well it generalises.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from heartsound import analyze
from heartsound.classification.inference import load_bundle
from heartsound.classification.tasks import aggregate_patient
from heartsound.datasets import circor2022
from heartsound.errors import HeartsoundError
from heartsound.serialize import to_jsonable, write_atomic


def _row(r, a, sev_rules) -> dict:
    d = a.to_dict()
    c = d["classification"]
    sev = a.classification["severity"].result
    before = None
    if sev is not None:
        lp = np.log(np.clip(sev.crop_probabilities, 1e-30, None)).mean(axis=0)
        p = np.exp(lp - lp.max())
        before = aggregate_patient("severity", (p / p.sum())[None], sev_rules)[0]
    row = {"id": r.id, "patient": r.labels["patient_id"], "murmur_true": r.label,
           "at_location": bool(r.labels.get("murmur_at_location")),
           "systolic_timing": r.labels.get("systolic_murmur_timing"),
           "diastolic_timing": r.labels.get("diastolic_murmur_timing"),
           "usable": d["quality"]["usable"], "n_cycles": d["n_cycles"],
           "murmur": c["murmur"].get("label"),
           "p_present": c["murmur"]["probabilities"].get("Present"),
           "severity": c["severity"].get("label"), "severity_before": before,
           "severity_rule": (c["severity"].get("decision") or {}).get("rule")}
    for t in ("murmur", "abnormal"):
        row[f"{t}_attention"] = c[t].get("attention_by_phase")
        row[f"{t}_evidence"] = c[t].get("evidence_by_phase")
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="../shared/data/circor2022")
    p.add_argument("--out", default="out/circor_decisions.json")
    p.add_argument("--limit", type=int, default=None, help="first N recordings (testing)")
    args = p.parse_args()
    sev_rules = load_bundle("severity")["rules"]
    rows, failed = [], []
    t0 = time.time()
    records = circor2022.read(args.root)[: args.limit]
    for i, r in enumerate(records):
        explain = r.label == "Present" and bool(r.labels.get("murmur_at_location"))
        try:
            a = analyze(r.audio_path, evidence=explain)
        except HeartsoundError as e:
            failed.append(f"{r.id}: {e}")
            continue
        rows.append(_row(r, a, sev_rules))
        if i % 200 == 0:
            print(f"{i}/{len(records)} {time.time() - t0:.0f} s", flush=True)
    write_atomic(Path(args.out), json.dumps(to_jsonable({"rows": rows, "failed": failed})))
    print(f"{len(rows)} analysed, {len(failed)} failed, {time.time() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
