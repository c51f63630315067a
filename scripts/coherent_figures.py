"""What the shipped coherent murmur/severity decision scores for unseen CirCor patients
(issue 19), from the stored out-of-fold probabilities; no model is run or trained.

Since issue 15, severity is graded only when the murmur decision is Present (Absent ->
``normal``, Unknown -> not assessable: :func:`heartsound.classification.decision.cohere`).
This script applies that rule with the package's own functions
(:func:`~heartsound.classification.decision.decide`, ``cohere``,
:func:`~heartsound.classification.tasks.aggregate_patient`) to the out-of-fold
probabilities of the stored runs, each patient's murmur probabilities from the murmur run
and its severity probabilities from the severity run (each from a model that never saw
the patient, with that fold's own rules), and prints JSON: plain 5-fold CV,
leave-one-campaign-out, nested selection, per recording and per patient, each beside the
severity model alone.

    python scripts/coherent_figures.py [--data ../shared/data] > docs/results/coherent_s12.json

Severity truth: :func:`~heartsound.classification.tasks.patient_target` (murmur-Unknown
patients and Present patients without a systolic grade have none and are left out). A
patient the decision leaves "not assessable" (murmur Unknown) counts as a miss of its
true class.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heartsound.classification.decision import Decision, cohere, decide
from heartsound.classification.tasks import (LABELS, aggregate_patient, patient_groups,
                                             patient_target, recording_target)
from heartsound.datasets import read
from heartsound.evaluation import metrics
from heartsound.training.classifier import RULE_TUNINGS, retune_cv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nested_selection import nested  # noqa: E402  (the same selection as nested_selection.json)

#: What a not-assessable severity decision (label None) is scored as: a miss.
NOT_ASSESSABLE = "not assessable"
#: Most to least severe: a patient's "worst recording" label is the first one present.
ORDER = {"murmur": ("Present", "Unknown", "Absent"),
         "severity": ("moderate_severe", "mild", None, "normal")}
#: Severity policies for a murmur-Unknown decision: the shipped one (not assessable), or
#: the severity model's own decision (``cohere`` without a murmur decision).
UNKNOWN_POLICIES = ("not_assessable", "severity_model")
_RESULTS = Path("docs/results")


def oof(folds: Sequence[dict[str, Any]]) -> dict[str, tuple[np.ndarray, dict[str, float], int]]:
    """Out-of-fold probabilities of a stored run: record key -> (probabilities
    [shape=(n_classes,)], the rules of the fold that held it out, fold index)."""
    out = {}
    for i, f in enumerate(folds):
        for key, p in zip(f["test_ids"], f["probs"]):
            out[key] = (np.asarray(p, dtype=np.float64), dict(f["rules"]), i)
    return out


def _lp(p: np.ndarray) -> np.ndarray:
    """Probabilities [shape=(n_classes,)] as one crop's log-probabilities [shape=(1, n)]."""
    return np.log(np.clip(np.asarray(p, dtype=np.float64), 1e-30, None))[None]


def _severity(lp_s: np.ndarray, murmur: Decision, rules_s: dict[str, float],
              unknown: str) -> str | None:
    """``cohere``'s severity label; ``unknown="severity_model"``: a murmur-Unknown
    decision is replaced by no murmur decision (the severity model's own rule)."""
    if unknown == "severity_model" and murmur.label == "Unknown":
        return cohere(lp_s, None, rules_s).label
    return cohere(lp_s, murmur, rules_s).label


def recording_decision(pm: np.ndarray, ps: np.ndarray, rules_m: dict[str, float],
                       rules_s: dict[str, float], unknown: str = "not_assessable"
                       ) -> tuple[str, str | None]:
    """The murmur and severity labels ``analyze`` gives a recording whose models output
    ``pm`` (Present, Unknown, Absent) and ``ps`` (normal, mild, moderate_severe)."""
    _, m = decide("murmur", _lp(pm), rules_m)
    return m.label, _severity(_lp(ps), m, rules_s, unknown)


def worst(task: str, labels: Sequence[str | None]) -> str | None:
    """The most severe of ``labels`` (:data:`ORDER`)."""
    return next(x for x in ORDER[task] if x in labels)


def murmur_label(Pm: np.ndarray, rules_m: dict[str, float], rule: str = "project") -> str:
    """A patient's murmur label from its recordings' probabilities [shape=(n, 3)]:
    ``aggregate_patient`` (``project``) or the most severe recording label (``worst``)."""
    if rule == "worst":
        return worst("murmur", [decide("murmur", _lp(p), rules_m)[1].label for p in Pm])
    return aggregate_patient("murmur", Pm, rules_m)[0]


def patient_decision(Pm: np.ndarray, Ps: np.ndarray, rules_m: dict[str, float],
                     rules_s: dict[str, float], rule: str = "project",
                     unknown: str = "not_assessable") -> tuple[str, str | None]:
    """Murmur and coherent severity label of one patient.

    Parameters
    ----------
    Pm, Ps : np.ndarray [shape=(n_recordings, 3)]
        The patient's recordings' murmur and severity probabilities.
    rule : {"project", "worst"}
        ``project``: each task's patient rule (``aggregate_patient``: murmur Present when
        any recording's P(Present) reaches ``t_present``...; severity the most
        murmur-like recording), then ``cohere`` of that severity vector with the patient's
        murmur label. ``worst``: each recording's coherent decision, and the patient's
        label per task the most severe of its recordings' (:data:`ORDER`).
    unknown : str
        One of :data:`UNKNOWN_POLICIES`.
    """
    if rule == "worst":
        labs = [recording_decision(a, b, rules_m, rules_s, unknown) for a, b in zip(Pm, Ps)]
        return worst("murmur", [a for a, _ in labs]), worst("severity", [b for _, b in labs])
    lab_m, pp_m = aggregate_patient("murmur", Pm, rules_m)
    _, pp_s = aggregate_patient("severity", Ps, rules_s)
    m = Decision(label=lab_m, score_name="P(Present)", score=float(pp_m[0]),
                 threshold=float(rules_m.get("t_present", 0.5)),
                 rule=f"patient rule -> {lab_m}")
    return lab_m, _severity(_lp(pp_s), m, rules_s, unknown)


def severity_alone(Ps: np.ndarray, rules_s: dict[str, float], rule: str = "project"
                   ) -> str:
    """The severity model's own patient label (no murmur gate): ``aggregate_patient``
    (``project``) or the most severe of its recordings' own labels (``worst``)."""
    if rule == "worst":
        return worst("severity", [aggregate_patient("severity", p[None], rules_s)[0]
                                  for p in Ps])
    return aggregate_patient("severity", Ps, rules_s)[0]


def patient_rows(recs: Sequence[Any], mo: dict, so: dict, rule: str = "project",
                 unknown: str = "not_assessable", gate: float | None = None,
                 bias: float | None = None) -> list[dict[str, Any]]:
    """One row per patient with a murmur target and out-of-fold murmur probabilities:
    truths, the murmur fold (``mfold``), and, where the severity run holds the patient,
    its fold (``sfold``), the severity model's own label (``alone``, by the same patient
    ``rule``) and the coherent one (``coherent``). ``gate``/``bias`` replace the folds' ``t_present``/``bias``."""
    rows = []
    for pid, idx in patient_groups(recs).items():
        keys = [f"{recs[i].corpus}/{recs[i].id}" for i in idx]
        tm = patient_target("murmur", recs[idx[0]])
        if tm is None or any(k not in mo for k in keys):
            continue
        Pm = np.array([mo[k][0] for k in keys])
        rules_m = dict(mo[keys[0]][1], **({} if gate is None else {"t_present": gate}))
        row = {"patient": pid, "murmur_truth": tm, "mfold": mo[keys[0]][2],
               "severity_truth": patient_target("severity", recs[idx[0]])}
        if all(k in so for k in keys):
            Ps = np.array([so[k][0] for k in keys])
            rules_s = dict(so[keys[0]][1], **({} if bias is None else {"bias": bias}))
            row["sfold"] = so[keys[0]][2]
            row["alone"] = severity_alone(Ps, so[keys[0]][1], rule)
            row["murmur"], row["coherent"] = patient_decision(Pm, Ps, rules_m, rules_s,
                                                              rule, unknown)
        else:
            row["murmur"] = murmur_label(Pm, rules_m, rule)
        rows.append(row)
    return rows


def recording_rows(recs: Sequence[Any], mo: dict, so: dict) -> list[dict[str, Any]]:
    """One row per recording of the murmur run: recording targets
    (:func:`~heartsound.classification.tasks.recording_target`), the murmur label and,
    where the severity run holds the recording, the severity model's own label and the
    coherent one ``analyze`` gives it."""
    rows = []
    for r in recs:
        k = f"{r.corpus}/{r.id}"
        if k not in mo:
            continue
        row = {"murmur_truth": recording_target("murmur", r), "mfold": mo[k][2],
               "severity_truth": recording_target("severity", r)}
        if k in so:
            row["murmur"], row["coherent"] = recording_decision(mo[k][0], so[k][0],
                                                                mo[k][1], so[k][1])
            row["alone"] = aggregate_patient("severity", so[k][0][None], so[k][1])[0]
            row["sfold"] = so[k][2]
        else:
            row["murmur"] = murmur_label(mo[k][0][None], mo[k][1])
        rows.append(row)
    return rows


def severity_uar(truth: Sequence[str], pred: Sequence[str | None]) -> float:
    """UAR over normal / mild / moderate_severe; a None prediction is a miss."""
    p = [NOT_ASSESSABLE if x is None else x for x in pred]
    return float(metrics.uar(truth, p, LABELS["severity"] + (NOT_ASSESSABLE,)))


def _by_fold(rows: list[dict], fold: str, fn: Any) -> list[float]:
    return [fn([r for r in rows if r.get(fold) == f])
            for f in sorted({r[fold] for r in rows if fold in r})]


def _severity_scores(sv: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Severity UAR of the labels ``row[key]`` (per severity fold, mean, pooled), recall
    and confusion (rows true, columns predicted), and murmur-free patients graded."""
    def uar(rs: list[dict]) -> float:
        return severity_uar([r["severity_truth"] for r in rs], [r[key] for r in rs])
    per = _by_fold(sv, "sfold", uar)
    labels = LABELS["severity"] + (NOT_ASSESSABLE,)
    cm = metrics.confusion_matrix([r["severity_truth"] for r in sv],
                                  [r[key] or NOT_ASSESSABLE for r in sv], labels)
    free = [r[key] for r in sv if r["severity_truth"] == "normal"]
    return {"severity_uar": {"per_fold": per, "mean": float(np.mean(per)), "pooled": uar(sv)},
            "recall": {lab: float(cm[k, k] / max(cm[k].sum(), 1))
                       for k, lab in enumerate(LABELS["severity"])},
            "confusion": {"labels": list(labels), "matrix": cm[:3].tolist()},
            "murmur_free_graded": {"n": len(free), "mild": free.count("mild"),
                                   "moderate_severe": free.count("moderate_severe")}}


def paired_uar_difference(truth: Sequence[str], a: Sequence[str | None],
                          b: Sequence[str | None], *, n: int = 2000, seed: int = 0
                          ) -> tuple[float, float, float]:
    """Pooled :func:`severity_uar` of ``b`` minus that of ``a`` (the same patients) and
    its 95 % percentile interval over ``n`` paired bootstrap resamples of the patients."""
    t, pa, pb = (np.array(x, dtype=object) for x in (truth, a, b))

    def diff(i: np.ndarray) -> float:
        return severity_uar(t[i], pb[i]) - severity_uar(t[i], pa[i])

    rng = np.random.default_rng(seed)
    ds = [diff(rng.integers(0, len(t), len(t))) for _ in range(n)]
    lo, hi = np.percentile(ds, [2.5, 97.5])
    return diff(np.arange(len(t))), float(lo), float(hi)


def summarise(rows: list[dict[str, Any]], boot: bool = False) -> dict[str, Any]:
    """Severity UAR (coherent and model alone: per severity fold, their mean, pooled),
    murmur weighted accuracy (per murmur fold, mean, pooled), counts of murmur-free
    patients (recordings) graded, and of not-assessable decisions."""
    sv = [r for r in rows if r.get("severity_truth") is not None and "coherent" in r]
    mv = [r for r in rows if r.get("murmur_truth") is not None]
    out: dict[str, Any] = {"n_severity": len(sv), "n_murmur": len(mv)}
    for key in ("coherent", "alone"):
        out.update({f"{k}_{key}": v for k, v in _severity_scores(sv, key).items()})
    if boot:
        d = paired_uar_difference([r["severity_truth"] for r in sv],
                                  [r["alone"] for r in sv], [r["coherent"] for r in sv])
        out["coherent_minus_alone_pooled"] = dict(zip(("difference", "lo95", "hi95"), d))
    out["not_assessable"] = sum(r["coherent"] is None for r in sv)
    sa = [r for r in sv if r["coherent"] is not None]
    out["severity_uar_coherent_assessable_only"] = severity_uar(
        [r["severity_truth"] for r in sa], [r["coherent"] for r in sa])

    def wa(rs: list[dict]) -> float:
        return float(metrics.murmur_weighted_accuracy([r["murmur_truth"] for r in rs],
                                                      [r["murmur"] for r in rs]))
    per = _by_fold(mv, "mfold", wa)
    out["murmur_weighted_accuracy"] = {"per_fold": per, "mean": float(np.mean(per)),
                                       "pooled": wa(mv)}
    return out


def candidates(task: str, recs: Sequence[Any], paths: Sequence[str]) -> dict[str, list]:
    """Each run x rule tuning, as :mod:`nested_selection`: name -> folds."""
    out = {}
    for path in paths:
        folds = json.load(open(path))["folds"]
        out[f"{Path(path).stem} (as run)"] = folds
        for method in RULE_TUNINGS:
            out[f"{Path(path).stem} {method}"] = retune_cv(task, recs, folds, method)
    return out


def nested_pairs(recs: Sequence[Any], cm: dict[str, list], cs: dict[str, list],
                 alone: dict[str, dict]) -> dict[str, Any]:
    """Nested figures of the coherent decision over murmur x severity candidates.

    ``as_project``: each patient gets the murmur candidate the murmur nested selection
    picked for its murmur fold (by murmur weighted accuracy) and the severity candidate
    the severity selection picked for its severity fold (by the model-alone UAR), as
    ``nested_selection.json``; the coherent decision of that pair is scored.
    ``by_coherent``: the pair with the best mean coherent UAR on the other severity folds.
    """
    mo = {n: oof(f) for n, f in cm.items()}
    so = {n: oof(f) for n, f in cs.items()}
    # as the project selects: per fold picks of each task on its own metric
    mix = []
    for t, o in (("murmur", mo), ("severity", so)):
        picks = alone[t]["picks"]  # candidate chosen for each fold
        any_run = o[picks[0]]  # every candidate has the same folds
        mix.append({k: o[picks[v[2]]][k] for k, v in any_run.items()})
    as_project = summarise(patient_rows(recs, *mix), boot=True)
    scores, table, wa = {}, {}, {}
    for a in cm:
        for b in cs:
            s = summarise(patient_rows(recs, mo[a], so[b]))
            scores[f"{a} + {b}"] = np.array(s["severity_uar_coherent"]["per_fold"])
            table[f"{a} + {b}"] = s["severity_uar_coherent"]["mean"]
            wa[f"{a} + {b}"] = s["murmur_weighted_accuracy"]["mean"]
    by = nested(scores)
    by.pop("candidates")
    by["murmur_weighted_accuracy_cv_of_picks"] = [wa[p] for p in by["picks"]]
    return {"as_project": as_project, "by_coherent": by, "pairs": table}


def alternatives(recs: Sequence[Any], mo: dict, so: dict) -> dict[str, Any]:
    """Item 4: other coherent rules chosen by the nested protocol (on the other severity
    folds): the murmur threshold that decides Present (and so gates grading), the grade
    bias, and what a murmur-Unknown decision gives. None = the fold's own tuned value."""
    scores, wa, table = {}, {}, {}
    for g in (None, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        for b in (None, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0):
            for u in UNKNOWN_POLICIES:
                s = summarise(patient_rows(recs, mo, so, unknown=u, gate=g, bias=b))
                name = f"gate={g} bias={b} unknown={u}"
                scores[name] = np.array(s["severity_uar_coherent"]["per_fold"])
                wa[name] = s["murmur_weighted_accuracy"]["mean"]
                table[name] = s["severity_uar_coherent"]["mean"]
    res = nested(scores)
    res.pop("candidates")
    res["murmur_weighted_accuracy_cv_of_picks"] = [wa[p] for p in res["picks"]]
    res["shipped"] = table["gate=None bias=None unknown=not_assessable"]
    res["top10"] = dict(sorted(table.items(), key=lambda kv: -kv[1])[:10])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--nested-json", default=str(_RESULTS / "nested_selection.json"),
                    help="its murmur and severity run lists are the candidates")
    a = ap.parse_args()
    recs = read("circor2022", Path(a.data) / "circor2022")
    runs = {t: json.load(open(a.nested_json))[t]["runs"] for t in ("murmur", "severity")}
    load = {n: json.load(open(_RESULTS / f"{n}.json"))["folds"] for n in (
        "murmur_cv_bigru_xfit3_phase", "severity_cv", "murmur_loco_campaign",
        "severity_loco_campaign")}
    mo, so = oof(load["murmur_cv_bigru_xfit3_phase"]), oof(load["severity_cv"])
    lm, ls = oof(load["murmur_loco_campaign"]), oof(load["severity_loco_campaign"])
    out: dict[str, Any] = {"severity_truth": "patient_target: Unknown and ungraded Present "
                                             "patients left out; not assessable = a miss"}
    # fold partitions equal (up to numbering)? pairs (murmur fold, severity fold) seen
    out["cv_fold_pairs"] = len({(mo[k][2], so[k][2]) for k in so})
    out["loco_recordings_in_other_fold"] = sorted(k for k in ls if lm[k][2] != ls[k][2])
    for name, m, s in (("cv", mo, so), ("loco", lm, ls)):
        out[name] = {rule: summarise(patient_rows(recs, m, s, rule), boot=True)
                     for rule in ("project", "worst")}
        out[name]["per_recording"] = summarise(recording_rows(recs, m, s))
    cm = candidates("murmur", recs, runs["murmur"])
    cs = candidates("severity", recs, runs["severity"])
    alone = {t: nested({n: np.array([f["score"] for f in fs]) for n, fs in c.items()})
             for t, c in (("murmur", cm), ("severity", cs))}
    out["nested_alone"] = {t: {k: v for k, v in d.items() if k != "candidates"}
                           for t, d in alone.items()}
    out["nested_coherent"] = nested_pairs(recs, cm, cs, alone)
    out["alternatives_cv"] = alternatives(recs, mo, so)
    # the CV winner among the alternatives, scored on the other split (same patients)
    out["alternative_unknown_severity_model_loco"] = summarise(
        patient_rows(recs, lm, ls, unknown="severity_model"))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
