"""One call from a recording to everything heartsound knows about it.

:func:`analyze` only orchestrates the pipeline stages, top to bottom::

    load / validate_audio  ->  quality.assess  ->  segment  ->  classify (per task)

and gathers their results in an :class:`Analysis`, the one contract every consumer reads
through ``Analysis.to_dict()`` (the CLI summary, ``<stem>.json``, ``<stem>.tsv``, the
figure and the HTML report of :mod:`heartsound.report`, and the batch CSV of
:mod:`heartsound.batch`). It computes nothing itself.

Two degradations are explicit rather than silent:

* ``method="neural"`` falls back to ``"springer2016"`` when the neural model is not
  available; ``Analysis.segmentation.method`` records the method that ran and
  ``segmentation_note`` why.
* a task whose classifier is not available is reported with ``available: false`` and the
  reason, never with made-up probabilities; when the quality check finds the recording
  unusable every classification is marked ``uncertain: true``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .calibration.applying import apply_all, as_calibrations
from .classification import classify, classify_all
from .classification.inference import cohere_severity
from .classification.ood import typicality
from .classification.tasks import TASKS, check_task
from .errors import ModelError, ParameterError
from .example import example_path
from .io import Recording, load
from .frontend import Frontend, trim_heap
from .quality import Quality, assess
from .quality_silence import no_signal_note, spans_of
from .segmentation import DEFAULT_METHOD, segment
from .segmentation.result import Segmentation
from .serialize import quality_dict, to_jsonable

__all__ = ["Analysis", "TaskResult", "analyze", "classify_tasks", "example_path",
           "DEFAULT_TASKS", "to_jsonable"]

#: Tasks analysed by default, in the order of :data:`heartsound.classification.tasks.TASKS`.
DEFAULT_TASKS: tuple[str, ...] = tuple(TASKS)
#: The segmenter every fallback ends on.
FALLBACK_METHOD = "springer2016"


@dataclass
class TaskResult:
    """What :func:`analyze` reports for one classification task.

    Attributes
    ----------
    task : str
    result : ClassificationResult or None
        The classifier's answer, ``None`` when the classifier is unavailable.
    uncertain : bool
        True when the quality check found the recording unusable.
    reason : str or None
        Why the classifier is unavailable.
    assessable : bool
        False when the recording holds no heart sounds (``reason`` says why): no
        classifier is run and ``to_dict()`` has ``"assessable": false``.
    attention_by_phase : dict or None
        Share of the classifier's attention in ``S1``, ``systole``, ``S2``, ``diastole``
        and ``unsegmented`` (and ``<phase>_ratio``: share / share of time), from
        ``ClassificationResult.attention_by_phase``; None without a segmentation.
    calibration : dict or None
        The site calibration applied (file, sha256, method, fitted_on, threshold,
        raw_score), :func:`heartsound.calibration.apply`.
    computed_for : str or None
        The task this one was not asked for but run for (murmur for severity's gate);
        ``to_dict()`` then has ``"computed_for"``.
    """

    task: str
    result: Any = None
    uncertain: bool = False
    reason: str | None = None
    attention_by_phase: dict[str, float] | None = None
    assessable: bool = True
    calibration: dict[str, Any] | None = None
    computed_for: str | None = None

    @property
    def available(self) -> bool:
        return self.result is not None

    @property
    def label(self) -> str | None:
        return None if self.result is None or self.result.label is None \
            else str(self.result.label)

    @property
    def probabilities(self) -> dict[str, float]:
        if self.result is None:
            return {}
        return {str(k): float(v) for k, v in dict(self.result.probabilities).items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``available``, ``label``, ``probabilities``, ``model``,
        ``decision`` (score, threshold, rule, interval, caveat), ``uncertain`` (when
        true), ``reason`` or ``attention_by_phase`` and ``evidence_by_phase``."""
        if self.result is None:
            d = {"available": False, "label": None, "probabilities": {}, "model": None,
                 "uncertain": True, "reason": self.reason}
            return d if self.assessable else {**d, "assessable": False}
        d = dict(self.result.to_dict())
        d.pop("task", None)
        d["available"] = True
        d["label"] = self.label
        d["probabilities"] = self.probabilities
        d.setdefault("model", None)
        if self.uncertain:
            d["uncertain"] = True
        if self.attention_by_phase is not None:
            d["attention_by_phase"] = self.attention_by_phase
        if self.calibration is not None:
            d["calibration"] = self.calibration
        if self.computed_for is not None:
            d["computed_for"] = self.computed_for
        return to_jsonable(d)


@dataclass
class Analysis:
    """The result of :func:`analyze` for one recording.

    Attributes
    ----------
    recording : Recording
        The validated samples (``y`` [shape=(n,)], ``sr`` in Hz, ``source``, ``meta``);
        ``y`` is float32 when that holds every sample exactly (integer PCM of up to 24
        bits), else float64.
    quality : Quality
        ``usable``, ``score`` in [0, 1], ``reasons``, ``measures``.
    segmentation : Segmentation or None
        ``None`` only when no segmenter could run (see ``segmentation_note``).
    requested_segmenter : str
        The method asked for; ``segmentation.method`` is the one that ran.
    segmentation_note : str or None
        Why the requested method did not run.
    classification : dict of str to TaskResult
        One entry per task, in the order asked; severity asked without murmur also has
        the murmur decision its rule reads, just before it (``computed_for``).
    typicality : dict or None
        How typical the recording is of the classifiers' training data
        (:func:`heartsound.classification.ood.typicality`: ``score``, ``threshold``,
        ``atypical``, ``nearest_site``); None when the statistics are unavailable.
    no_signal_s : list of (start_s, end_s) or None
        Stretches without signal (:func:`heartsound.quality_silence.no_signal_spans`),
        ``quality.no_signal_s`` of the JSON when there are any; None: not looked for.
    """

    recording: Recording
    quality: Quality
    segmentation: Segmentation | None
    requested_segmenter: str
    classification: dict[str, TaskResult] = field(default_factory=dict)
    segmentation_note: str | None = None
    typicality: dict[str, Any] | None = None
    no_signal_s: list[tuple[float, float]] | None = None

    @property
    def source(self) -> str:
        return self.recording.source

    @property
    def sr(self) -> int:
        return int(self.recording.sr)

    @property
    def duration_s(self) -> float:
        return float(self.recording.duration_s)

    @property
    def usable(self) -> bool:
        return bool(self.quality.usable)

    @property
    def n_cycles(self) -> int:
        return 0 if self.segmentation is None else int(self.segmentation.intervals()["n_cycles"])

    @property
    def heart_rate_bpm(self) -> float | None:
        """The heart rate: 60 / the median decoded cycle in bpm (None without a cycle)."""
        return None if self.segmentation is None else self.segmentation.median_heart_rate_bpm

    def to_dict(self) -> dict[str, Any]:
        """The result contract: what ``<stem>.json`` holds and every writer reads.

        Seconds, Hz, bpm and probabilities, every float rounded by
        :func:`heartsound.serialize.to_jsonable`; ``heart_rate_bpm`` (here and under
        ``segmentation``) is :attr:`heart_rate_bpm`.
        """
        if self.segmentation is None:
            seg: dict[str, Any] = {"method": None, "available": False, "states": [],
                                   "events": [], "intervals": {"n_cycles": 0}}
        else:
            seg = self.segmentation.to_dict()  # intervals computed once here
        # the quality, segmentation and task dicts are JSON types already (each made by
        # to_jsonable): only the rest is converted, not the whole walked again
        seg["requested_method"] = to_jsonable(self.requested_segmenter)
        if self.segmentation_note:
            seg["note"] = to_jsonable(self.segmentation_note)
        return {
            "heartsound_version": __version__,
            "source": to_jsonable(self.source),
            "sr": self.sr,
            "duration_s": to_jsonable(self.duration_s),
            "quality": quality_dict(self.quality, notes=self.recording.notes)
            | ({"no_signal_s": to_jsonable(self.no_signal_s)} if self.no_signal_s else {}),
            "heart_rate_bpm": seg.get("heart_rate_bpm"),
            "n_cycles": int(seg["intervals"].get("n_cycles") or 0),
            "segmentation": seg,
            "classification": {str(t): r.to_dict() for t, r in self.classification.items()},
            **({} if self.typicality is None else
               {"typicality": to_jsonable(self.typicality)}),
        }


# --- the stages (one function each, so the orchestration below reads top to bottom) ------

def _load(source: str | Path | np.ndarray, sr: int | None) -> Recording:
    if isinstance(source, (str, Path)):
        return load(source, sr=sr)
    if sr is None:
        raise ParameterError("analyze: `sr` (sample rate in Hz) is required when `source` "
                             "is an array")
    return Recording.from_array(source, sr)


def _segment_with_fallback(y: np.ndarray, sr: int, method: str, frontend: Frontend
                           ) -> tuple[Segmentation | None, str | None]:
    """Run ``method``; when it is the default (neural) method and its model or module is
    unavailable (``ModelError``, or the ``ParameterError`` a valid but uninstalled method
    raises), run :data:`FALLBACK_METHOD` and say why."""
    unavailable = (ModelError, ImportError, ParameterError)
    try:
        return segment(y, sr, method=method, frontend=frontend), None
    except unavailable as exc:
        if method != DEFAULT_METHOD:
            raise
        why = str(exc)
    try:
        return (segment(y, sr, method=FALLBACK_METHOD, frontend=frontend),
                f"{DEFAULT_METHOD} segmenter unavailable ({why}); used {FALLBACK_METHOD}")
    except unavailable as exc:
        return None, (f"no segmenter available: {DEFAULT_METHOD} ({why}); "
                      f"{FALLBACK_METHOD} ({exc})")


def classify_tasks(y: np.ndarray, sr: int, tasks: tuple[str, ...],
                   frontend: Frontend | None = None, seg: Segmentation | None = None,
                   evidence: bool = True, gate: bool = False) -> dict[str, Any]:
    """Each task's ClassificationResult, or the exception saying why it is unavailable.
    All tasks at once go through ``classify_all`` (one shared front end). Severity is
    graded only for a murmur: asked without murmur, the murmur model still runs for the
    gate (returned too, before severity, when ``gate``).

    ``seg`` is handed to models with phase channels only if the default (neural) method
    made it: they were trained on its phases, so after a springer2016 segmentation or a
    fallback they segment the recording with the neural method themselves."""
    if seg is not None and seg.method != DEFAULT_METHOD:
        seg = None
    if sorted(tasks) == sorted(TASKS):
        try:
            res = classify_all(y, sr, frontend=frontend, segmentation=seg, evidence=evidence)
            return {t: res[t] for t in tasks}
        except (ModelError, ImportError):
            pass  # a model is missing: classify task by task to report each one
    out: dict[str, Any] = {}
    gate_run = ("murmur",) if "severity" in tasks and "murmur" not in tasks else ()
    for t in sorted(tasks + gate_run, key=TASKS.index):  # murmur before severity
        graded = t != "severity" or getattr(out.get("murmur"), "label", None) == "Present"
        try:
            out[t] = classify(y, sr, task=t, frontend=frontend, segmentation=seg,
                              evidence=evidence and t not in gate_run and graded)
        except (ModelError, ImportError, ParameterError) as exc:
            out[t] = exc  # ParameterError: the segmenter of its phase channels is missing
    if "severity" in tasks and not isinstance(out["severity"], Exception):
        murmur = out["murmur"] if not isinstance(out["murmur"], Exception) else None
        out["severity"] = cohere_severity(out["severity"], murmur)
    return {u: out[u] for t in tasks for u in ((*gate_run, t) if t == "severity" and gate
                                               else (t,))}


def _task_result(task: str, res: Any, uncertain: bool, seg: Segmentation | None
                 ) -> TaskResult:
    if isinstance(res, Exception):
        return TaskResult(task, None, True, f"classifier unavailable: {res}")
    shares = None
    if seg is not None and hasattr(res, "attention_by_phase"):
        shares = res.attention_by_phase(seg)
    return TaskResult(task, res, uncertain, None, shares)


def analyze(source: str | Path | np.ndarray, *, sr: int | None = None,
            method: str = DEFAULT_METHOD, tasks: str | tuple[str, ...] | list[str] = DEFAULT_TASKS,
            segmenter: str | None = None, evidence: bool = True,
            calibration: Any = None) -> Analysis:
    """Analyse one recording: quality, segmentation, heart rate and classification.

    Parameters
    ----------
    source : str, Path or np.ndarray [shape=(n,) or (n, channels)]
        An audio file (any format libsndfile reads) or the samples themselves.
    sr : int, optional
        Sample rate in Hz. Required when ``source`` is an array; for a file, the rate to
        resample to (``None`` keeps the file's rate).
    method : str
        Segmentation method, a name of :data:`heartsound.segmentation.METHODS`; the
        default (``"neural"``) falls back to ``"springer2016"`` when its model is
        unavailable.
    tasks : str or sequence of str
        Classification tasks, any of :data:`heartsound.classification.tasks.TASKS`.
    segmenter : str, optional
        Old name of ``method``; when given it wins.
    evidence : bool
        Measure each decision's evidence per cardiac phase by occlusion
        (``classification.<task>.evidence_by_phase``; four more model runs per task).
    calibration : Calibration, path, or a sequence of them (one per task), optional
        Site calibrations (``heartsound calibrate``) applied to their tasks' results;
        each task result then says which under ``calibration``.

    Returns
    -------
    Analysis
        ``Analysis.to_dict()`` is the JSON written by ``heartsound analyze``.

    Raises
    ------
    ParameterError
        ``sr`` missing for an array, an unknown task or segmentation method, a
        calibration file that cannot be read or is for another task.
    ModelError
        A calibration fitted for another model file (sha256).
    AudioError
        The file is missing, unreadable, empty, silent, too short (< 1 s) or non-finite.

    Examples
    --------
    >>> import heartsound
    >>> a = heartsound.analyze(heartsound.example_path())  # doctest: +SKIP
    >>> a.to_dict()["classification"]["murmur"]["label"]  # doctest: +SKIP
    'Present'
    """
    method = method if segmenter is None else segmenter
    tasks = tuple(check_task(t) for t in ((tasks,) if isinstance(tasks, str) else tasks))
    cals = as_calibrations(calibration)
    rec = _load(source, sr)
    # resampled, band-passed and de-spiked signals and envelopes, computed once and
    # shared by the quality check, the segmenter and the classifiers' front end
    fe = Frontend(rec.y, rec.sr, source=rec.source)
    quality = assess(rec.y, rec.sr, frontend=fe)
    spans = spans_of(fe)  # left out by the classifiers, presence check and typicality
    if spans:
        rec.notes["no_signal"] = no_signal_note(spans, rec.duration_s)
    seg, note = _segment_with_fallback(rec.y, rec.sr, method, fe)
    fe.release()  # the 1 kHz signals and envelopes are not needed after segmentation
    if seg is not None and not seg.heart_sounds:  # nothing to classify: say so, no labels
        why = f"not assessable: {(seg.presence or {}).get('reason')}"
        cls = {t: TaskResult(t, None, True, why, assessable=False) for t in tasks}
    else:
        results = classify_tasks(rec.y, rec.sr, tasks, fe, seg, evidence, gate=True)
        results, calibrated = apply_all(cals, results, rec.y, rec.sr, fe, seg)
        uncertain = not bool(quality.usable)
        cls = {t: _task_result(t, results[t], uncertain, seg) for t in results}
        for t in set(cls) - set(tasks):  # murmur, shown as what severity's rule read
            cls[t].computed_for = "severity"
        for t, info in calibrated.items():
            cls[t].calibration = info
    typical = typicality(rec.y, rec.sr, frontend=fe)
    del fe
    return Analysis(recording=_compact(rec), quality=quality, segmentation=seg,
                    requested_segmenter=method, classification=cls,
                    segmentation_note=note, typicality=typical, no_signal_s=spans)


def _compact(rec: Recording) -> Recording:
    """``rec`` with its samples as float32 when float32 holds them exactly (integer PCM
    of up to 24 bits, as every FLAC and most WAV files are), else ``rec`` itself: an
    analysis of an hour then keeps 29 MB of samples for its reports instead of 58 MB
    (issue 14: memory flat in the recording's length), and the freed heap is returned to
    the operating system (:func:`~heartsound.frontend.trim_heap`)."""
    y32 = rec.y.astype(np.float32)
    if np.array_equal(y32, rec.y):
        rec = replace(rec, y=y32)
    del y32
    trim_heap()
    return rec
