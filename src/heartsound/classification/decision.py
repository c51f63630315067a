"""What a label rests on: the score, the threshold, the rule in words, an interval, and
the model card's caveat; and the one rule that makes murmur and severity agree.

Every task's label is decided here from the model's per-crop log-probabilities (the
same rules as :func:`~heartsound.classification.tasks.aggregate_patient`, which stays the
single definition of the thresholds), and returned as a :class:`Decision` whose ``rule``
spells out the comparison that produced the label, e.g. ``"P(abnormal) 0.91 >= 0.85 ->
abnormal"``, so the highlighted label can always be checked against the numbers shown.

Uncertainty: the model scores a recording as the mean of its crops' log-probabilities
(4.16 s windows every 2.08 s). :func:`decide` resamples the crops with replacement
(:data:`N_BOOT` times, fixed seed) and reports the 2.5-97.5 % range of the decision score
(``interval``) and the share of resamples that give the same label (``stability``). It
measures how much the answer depends on which stretches of the recording are used; it is
not a calibrated confidence interval (overlapping crops are not independent, and model
error common to every crop is not seen).

Severity is graded only for a murmur (:func:`cohere`): murmur ``Present`` -> ``mild`` or
``moderate_severe`` by the severity model's grade rule; ``Absent`` -> ``normal`` (not
graded); ``Unknown`` -> no label (not assessable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np

from .tasks import DEFAULT_RULES, LABELS, aggregate_patient, check_task

__all__ = ["Decision", "decide", "cohere", "CAVEATS", "N_BOOT", "grade_threshold",
           "decision_score", "SCORE_NAMES", "softmax", "summary_lines", "evidence_text",
           "row_labels"]

#: Bootstrap resamples of the crops behind ``interval`` and ``stability``.
N_BOOT = 200
_SEED = 0

#: The model cards' caveats shown next to each label (``src/heartsound/models/<task>.md``).
CAVEATS: dict[str, str] = {
    "abnormal": ("Screening aid, not a diagnosis. The threshold does not transfer between "
                 "sites or devices: recalibrate it on local labelled recordings, or use "
                 "P(abnormal) as a ranking score."),
    "murmur": ("Screening aid trained on CirCor (children, Brazil); external AUC 0.62 on "
               "PASCAL set A. Thresholds do not transfer between sites: recalibrate."),
    "severity": ("Graded only when the murmur classifier says Present. Rough systolic "
                 "grade from CirCor (recall of mild 0.34 in patients of the other "
                 "campaign), not a clinical assessment."),
}


@dataclass(frozen=True)
class Decision:
    """The basis of one task's label.

    Attributes
    ----------
    label : str or None
        None when the task is not assessable (severity with murmur Unknown).
    score_name : str
        What ``score`` is, e.g. ``"P(Present)"``.
    score : float or None
        The number compared with ``threshold``.
    threshold : float or None
    rule : str
        The comparison in words, ending in ``-> label``.
    interval : (float, float) or None
        2.5-97.5 % range of ``score`` over bootstrap resamples of the crops.
    stability : float or None
        Share of those resamples that give ``label``.
    n_crops : int
        Crops (4.16 s windows) the score averages.
    graded : bool
        False for severity when no murmur was found (label ``normal``, not graded) or the
        murmur is Unknown.
    caveat : str
    """

    label: str | None
    score_name: str
    score: float | None
    threshold: float | None
    rule: str
    interval: tuple[float, float] | None = None
    stability: float | None = None
    n_crops: int = 1
    graded: bool = True
    caveat: str = ""

    def to_dict(self) -> dict[str, Any]:
        # the fields are numbers and strings: no deep copy (dataclasses.asdict) needed
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["interval"] = None if self.interval is None else list(self.interval)
        return d


def _rules(task: str, rules: dict[str, float] | None) -> dict[str, float]:
    r = dict(DEFAULT_RULES[task])
    r.update(rules or {})
    return r


def grade_threshold(rules: dict[str, float] | None) -> float:
    """The severity grade rule ``log P(moderate_severe) - log P(mild) >= bias`` as a
    threshold on ``P(moderate_severe | murmur) = P(ms) / (P(mild) + P(ms))``."""
    return 1.0 / (1.0 + math.exp(-_rules("severity", rules)["bias"]))


#: Name of each task's decision score (what :func:`decision_score` returns).
SCORE_NAMES: dict[str, str] = {"abnormal": "P(abnormal)", "murmur": "P(Present)",
                               "severity": "P(mild or worse)"}


def softmax(lp: np.ndarray) -> np.ndarray:
    """Mean log-probabilities [shape=(..., n_classes)] -> probabilities (as classify)."""
    p = np.exp(lp - lp.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def decision_score(task: str, p: np.ndarray, graded_only: bool = False) -> np.ndarray:
    """The decision score of probabilities [shape=(..., n_classes)]."""
    if task == "abnormal":
        return p[..., 1]
    if task == "murmur":
        return p[..., 0]
    if graded_only:
        return p[..., 2] / np.maximum(p[..., 1] + p[..., 2], 1e-12)
    return 1.0 - p[..., 0]


def _cmp(x: float, t: float) -> str:
    """``"x >= t"`` or ``"x < t"``, with enough decimals that the shown numbers agree
    with the comparison (0.8496 < 0.85, not 0.85 < 0.85)."""
    x, t = float(x), float(t)
    d = 2
    while d < 6 and f"{x:.{d}f}" == f"{t:.{d}f}" and x != t:
        d += 1
    return f"{x:.{d}f} {'>=' if x >= t else '<'} {t:.{d}f}"


def _rule_text(task: str, p: np.ndarray, label: str, r: dict[str, float]) -> str:
    if task == "abnormal":
        return f"P(abnormal) {_cmp(p[1], r['threshold'])} -> {label}"
    if task == "murmur":
        text = f"P(Present) {_cmp(p[0], r['t_present'])}"
        if p[0] < r["t_present"]:
            text += f"; P(Unknown) {_cmp(p[1], r['t_unknown'])}"
        return f"{text} -> {label}"
    worse = 1.0 - p[0]
    text = f"P(mild or worse) {_cmp(worse, r['t_murmur'])}"
    if label != "normal":
        g = float(decision_score(task, p, graded_only=True))
        text += f"; P(moderate_severe | murmur) {_cmp(g, grade_threshold(r))}"
    return f"{text} -> {label}"


def row_labels(task: str, probs: np.ndarray, rules: dict[str, float] | None = None
               ) -> np.ndarray:
    """The label of each row of ``probs`` [shape=(n, n_classes)] as one recording:
    ``aggregate_patient(task, q[None], rules)[0]`` for each row ``q`` (tested equal),
    without a Python call per row (the bootstrap labels :data:`N_BOOT` rows per task).

    Returns
    -------
    np.ndarray [shape=(n,)] of str
    """
    r = _rules(task, rules)
    p = np.asarray(probs, dtype=np.float64)
    lab = LABELS[task]
    if task == "abnormal":  # normal, abnormal
        return np.where(p[:, 1] >= r["threshold"], lab[1], lab[0])
    if task == "murmur":  # Present, Unknown, Absent
        return np.where(p[:, 0] >= r["t_present"], lab[0],
                        np.where(p[:, 1] >= r["t_unknown"], lab[1], lab[2]))
    # severity: normal, mild, moderate_severe
    grade = np.log(p[:, 2] + 1e-9) - np.log(p[:, 1] + 1e-9) >= r["bias"]
    return np.where(1 - p[:, 0] < r["t_murmur"], lab[0], np.where(grade, lab[2], lab[1]))


@lru_cache(maxsize=16)
def _resamples(n: int) -> np.ndarray:
    """Crop indices of the :data:`N_BOOT` resamples of ``n`` crops [shape=(N_BOOT, n)]:
    fixed by the seed, so drawn once per ``n`` (read-only)."""
    idx = np.random.default_rng(_SEED).integers(0, n, size=(N_BOOT, n))
    idx.flags.writeable = False
    return idx


def _bootstrap(task: str, crop_lp: np.ndarray, label: str | None, rules: dict[str, float],
               graded_only: bool = False) -> tuple[tuple[float, float], float]:
    """Score interval and label stability over resamples of the crops."""
    idx = _resamples(crop_lp.shape[0])
    probs = softmax(crop_lp[idx].mean(axis=1))  # (N_BOOT, n_classes)
    s = decision_score(task, probs, graded_only)
    lo, hi = np.percentile(s, [2.5, 97.5])
    if graded_only:
        labels = np.where(s >= grade_threshold(rules), "moderate_severe", "mild")
    else:
        labels = row_labels(task, probs, rules)
    return (float(lo), float(hi)), float(np.mean(labels == label))


def decide(task: str, crop_log_probs: np.ndarray, rules: dict[str, float] | None = None
           ) -> tuple[np.ndarray, Decision]:
    """The label of one recording and what it rests on.

    Parameters
    ----------
    task : str
    crop_log_probs : np.ndarray [shape=(n_crops, n_classes)]
        Each crop's log-probabilities (model output order, :data:`LABELS`).
    rules : dict, optional
        The bundle's thresholds (keys as :data:`~.tasks.DEFAULT_RULES`).

    Returns
    -------
    probabilities : np.ndarray [shape=(n_classes,)]
        Softmax of the mean crop log-probability (what :func:`classify` reports).
    Decision
    """
    check_task(task)
    lp = np.atleast_2d(np.asarray(crop_log_probs))
    r = _rules(task, rules)
    p = softmax(lp.mean(axis=0))  # in the model's dtype, as reported before
    lp = lp.astype(np.float64)
    label, _ = aggregate_patient(task, p[None], r)
    interval, stab = _bootstrap(task, lp, label, r)
    name = SCORE_NAMES[task]
    thr = {"abnormal": "threshold", "murmur": "t_present", "severity": "t_murmur"}[task]
    return p, Decision(label=label, score_name=name, score=float(decision_score(task, p)),
                       threshold=float(r[thr]), rule=_rule_text(task, p, label, r),
                       interval=interval, stability=stab, n_crops=int(lp.shape[0]),
                       caveat=CAVEATS[task])


def cohere(severity_crop_log_probs: np.ndarray, murmur: Decision | None,
           rules: dict[str, float] | None = None) -> Decision:
    """The severity decision given the murmur decision of the same recording.

    Parameters
    ----------
    severity_crop_log_probs : np.ndarray [shape=(n_crops, 3)]
        The severity model's crop log-probabilities (normal, mild, moderate_severe).
    murmur : Decision or None
        The murmur decision; None when the murmur classifier is unavailable (the severity
        model's own gate ``P(mild or worse) >= t_murmur`` then decides, as :func:`decide`).
    rules : dict, optional
        The severity bundle's rules.

    Returns
    -------
    Decision
        Murmur ``Present``: ``mild`` or ``moderate_severe`` by ``P(moderate_severe |
        murmur) >= grade_threshold(rules)``; ``Absent``: ``normal``, ``graded=False``;
        ``Unknown``: label None, ``graded=False``.
    """
    lp = np.atleast_2d(np.asarray(severity_crop_log_probs, dtype=np.float64))
    if murmur is None:
        _, d = decide("severity", lp, rules)
        return replace(d, rule="murmur classifier unavailable; " + d.rule)
    r = _rules("severity", rules)
    p = softmax(lp.mean(axis=0))
    base = dict(n_crops=int(lp.shape[0]), caveat=CAVEATS["severity"])
    if murmur.label != "Present":
        label = "normal" if murmur.label == "Absent" else None
        what = "not graded -> normal" if label else "severity not assessable"
        return Decision(label=label, score_name="murmur", score=None, threshold=None,
                        rule=f"murmur {murmur.label} ({murmur.rule.split(' -> ')[0]}) -> "
                             f"{what}", graded=False, **base)
    t = grade_threshold(r)
    g = float(decision_score("severity", p, graded_only=True))
    label = "moderate_severe" if g >= t else "mild"
    interval, stab = _bootstrap("severity", lp, label, r, graded_only=True)
    return Decision(label=label, score_name="P(moderate_severe | murmur)", score=g,
                    threshold=t, interval=interval, stability=stab,
                    rule=f"murmur Present -> graded: P(moderate_severe | murmur) "
                         f"{_cmp(g, t)} -> {label}", **base)



def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def evidence_text(ev: dict[str, Any] | None) -> str | None:
    """One line of an ``evidence_by_phase`` entry: the change of the score when each
    phase is occluded (negative: the phase held evidence for the label), its share of
    the total decrease and its share of time, largest decrease first; None without
    evidence."""
    if not ev:
        return None
    cells = sorted(((ph, ev[ph]) for ph in ("S1", "systole", "S2", "diastole") if ph in ev),
                   key=lambda kv: -kv[1]["drop"])
    return (f"occluding each phase changes {ev['score']} {ev['full']:.2f} by: " + ", ".join(
        f"{ph} {-c['drop']:+.2f} ({_pct(c['share'])} of the decrease, "
        f"{_pct(c['time_share'])} of time)" for ph, c in cells))


def summary_lines(c: dict[str, Any]) -> list[str]:
    """Human lines of one task's ``Analysis.to_dict()["classification"]`` entry (or
    ``ClassificationResult.to_dict()``): the rule, the spread over windows, the
    occlusion evidence and the caveat; empty when it holds no decision."""
    dec = c.get("decision")
    if not dec:
        return []
    lines = [f"rule: {dec['rule']}"]
    if dec.get("interval") is not None and dec.get("score") is not None:
        lo, hi = dec["interval"]
        n = dec["n_crops"]
        lines.append(f"spread: {dec['score_name']} {lo:.2f}-{hi:.2f} over resamples of "
                     f"{n} window{'' if n == 1 else 's'}; same label in "
                     f"{_pct(dec.get('stability'))}")
    ev = evidence_text(c.get("evidence_by_phase"))
    if ev:
        lines.append(f"evidence: {ev}")
    if dec.get("caveat"):
        lines.append(f"caveat: {dec['caveat']}")
    return lines
