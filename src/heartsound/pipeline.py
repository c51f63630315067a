"""One call from a recording to everything heartsound knows about it.

:func:`analyze` only orchestrates the pipeline stages, top to bottom::

    load / validate_audio  ->  quality.assess  ->  segment  ->  classify (per task)

and gathers their results in an :class:`Analysis`, the one contract every consumer reads
(the CLI summary, ``<stem>.json``, ``<stem>.tsv``, the figure and the HTML report of
:mod:`heartsound.report`, and the batch CSV of :mod:`heartsound.batch`). It computes
nothing itself.

Two degradations are explicit rather than silent:

* ``segmenter="neural"`` falls back to ``"springer2016"`` when the neural model is not
  available; ``Analysis.segmentation.method`` records the method that ran and
  ``segmentation_note`` why.
* a task whose classifier is not available is reported with ``available: false`` and the
  reason, never with made-up probabilities; when the quality check finds the recording
  unusable every classification is marked ``uncertain: true``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .io import Recording
    from .segmentation.result import Segmentation

__all__ = ["Analysis", "TaskResult", "analyze", "example_path", "DEFAULT_TASKS",
           "STATE_CODES", "to_jsonable"]

#: Tasks analysed by default (see :mod:`heartsound.classification.tasks`).
DEFAULT_TASKS: tuple[str, ...] = ("abnormal", "murmur", "severity")
#: CirCor state codes used in ``segmentation.states`` rows.
STATE_CODES = {1: "S1", 2: "systole", 3: "S2", 4: "diastole"}


def example_path() -> Path:
    """Path of the example recording: a synthetic 10 s PCG at 2000 Hz with a systolic
    murmur and known S1/S2 (``example.tsv`` beside it), built on first use in the user's
    cache folder; see :mod:`heartsound.example`."""
    from .example import example_path as _example_path

    return _example_path()


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
    attention_by_phase : dict or None
        Share of the classifier's attention in ``S1``, ``systole``, ``S2``, ``diastole``
        and ``unsegmented`` (and ``<phase>_ratio``: share / share of time), from
        ``ClassificationResult.attention_by_phase``; None without a segmentation.
    """

    task: str
    result: Any = None
    uncertain: bool = False
    reason: str | None = None
    attention_by_phase: dict[str, float] | None = None

    @property
    def available(self) -> bool:
        return self.result is not None

    @property
    def label(self) -> str | None:
        return None if self.result is None else str(self.result.label)

    @property
    def probabilities(self) -> dict[str, float]:
        if self.result is None:
            return {}
        return {str(k): float(v) for k, v in dict(self.result.probabilities).items()}

    def to_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {"available": False, "label": None, "probabilities": {}, "model": None,
                    "uncertain": True, "reason": self.reason}
        d = to_jsonable(self.result.to_dict())
        d.pop("task", None)
        d["available"] = True
        d["label"] = self.label
        d["probabilities"] = {k: round(v, 6) for k, v in self.probabilities.items()}
        d.setdefault("model", None)
        if self.uncertain:
            d["uncertain"] = True
        if self.attention_by_phase is not None:
            d["attention_by_phase"] = {k: (None if v is None else round(float(v), 4))
                                       for k, v in self.attention_by_phase.items()}
        return d


@dataclass
class Analysis:
    """The result of :func:`analyze` for one recording.

    Attributes
    ----------
    recording : Recording
        The validated samples (``y`` [shape=(n,)], ``sr`` in Hz, ``source``, ``meta``).
    quality : Quality
        ``usable``, ``score`` in [0, 1], ``reasons``, ``measures``.
    segmentation : Segmentation or None
        ``None`` only when no segmenter could run (see ``segmentation_note``).
    requested_segmenter : str
        The method asked for; ``segmentation.method`` is the one that ran.
    segmentation_note : str or None
        Why the requested method did not run.
    classification : dict of str to TaskResult
        One entry per task, in the order asked.
    """

    recording: Recording
    quality: Any
    segmentation: Segmentation | None
    requested_segmenter: str
    classification: dict[str, TaskResult] = field(default_factory=dict)
    segmentation_note: str | None = None

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
        """Heart rate from the median decoded cycle, else the segmenter's own estimate."""
        if self.segmentation is None:
            return None
        hr = self.segmentation.intervals().get("heart_rate_bpm")
        if hr is None:
            hr = self.segmentation.heart_rate_bpm
        hr = float(hr)
        return hr if math.isfinite(hr) else None

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-serialisable Python types (seconds, Hz, bpm, probabilities)."""
        from ._version import __version__

        q = self.quality
        quality = {"usable": bool(q.usable), "score": round(float(q.score), 4),
                   "reasons": [str(r) for r in q.reasons]}
        if getattr(q, "flags", None) is not None:
            quality["flags"] = [str(f) for f in q.flags]
        measures = getattr(q, "measures", None)
        if measures:
            quality["measures"] = to_jsonable(measures)
        hr: float | None = None
        if self.segmentation is None:
            seg: dict[str, Any] = {"method": None, "available": False, "states": [],
                                   "events": [], "intervals": {"n_cycles": 0}}
        else:
            seg = to_jsonable(self.segmentation.to_dict())  # intervals computed once here
            hr = seg["intervals"].get("heart_rate_bpm")
            if hr is None:
                hr = seg.get("heart_rate_bpm")
        seg["requested_method"] = self.requested_segmenter
        if self.segmentation_note:
            seg["note"] = self.segmentation_note
        return {
            "heartsound_version": __version__,
            "source": self.source,
            "sr": self.sr,
            "duration_s": round(self.duration_s, 4),
            "quality": quality,
            "heart_rate_bpm": None if hr is None else round(float(hr), 2),
            "n_cycles": int(seg["intervals"].get("n_cycles") or 0),
            "segmentation": seg,
            "classification": {t: r.to_dict() for t, r in self.classification.items()},
        }


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths inside ``obj`` to JSON types;
    non-finite floats become ``None``."""
    t = type(obj)
    if t is float:
        return obj if math.isfinite(obj) else None
    if t is int or t is str or t is bool or obj is None:
        return obj
    if t is list or t is tuple:
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    tolist = getattr(obj, "tolist", None)  # numpy scalar or array
    if tolist is not None:
        return to_jsonable(tolist())
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)


# --- the stages (one function each, so the orchestration below reads top to bottom) ------

def _load(source: Any, sr: int | None) -> Recording:
    from .io import Recording, load, validate_audio

    if isinstance(source, (str, Path)):
        return load(source, sr=sr)
    if sr is None:
        raise ParameterError("analyze: `sr` (sample rate in Hz) is required when `source` "
                             "is an array")
    y = validate_audio(source, sr)
    return Recording(y=y, sr=int(sr), source="<array>",
                     meta={"original_sr": int(sr), "channels": 1, "duration_s": len(y) / sr})


def _assess(y: np.ndarray, sr: int, prepared: Any = None) -> Any:
    from .quality import assess

    return assess(y, sr, prepared=prepared)


def _segment(y: np.ndarray, sr: int, method: str, prepared: Any = None) -> Segmentation:
    from .segmentation import segment

    return segment(y, sr, method=method, prepared=prepared)


def _classify(y: np.ndarray, sr: int, task: str, segmentation: Any = None) -> Any:
    from .classification import classify

    return classify(y, sr, task=task, segmentation=segmentation)


def _classify_all(y: np.ndarray, sr: int, prepared: Any = None, segmentation: Any = None
                  ) -> dict[str, Any]:
    from .classification import classify_all

    return classify_all(y, sr, prepared=prepared, segmentation=segmentation)


def _segment_with_fallback(y: np.ndarray, sr: int, method: str, prepared: Any = None
                           ) -> tuple[Segmentation | None, str | None]:
    """Run ``method``; when it is ``"neural"`` and its model or module is unavailable
    (``ModelError``, or the ``ParameterError`` a valid but uninstalled method raises),
    run ``"springer2016"`` and say why."""
    try:
        return _segment(y, sr, method, prepared), None
    except (ModelError, ImportError, ParameterError) as exc:
        if method != "neural":
            raise
        why = str(exc)
    try:
        return _segment(y, sr, "springer2016", prepared), \
            f"neural segmenter unavailable ({why}); used springer2016"
    except (ModelError, ImportError, ParameterError) as exc:
        return None, f"no segmenter available: neural ({why}); springer2016 ({exc})"


def _classify_tasks(y: np.ndarray, sr: int, tasks: tuple[str, ...], prepared: Any = None,
                    seg: Segmentation | None = None) -> dict[str, Any]:
    """Each task's ClassificationResult, or the exception saying why it is unavailable.
    All three tasks at once go through ``classify_all`` (one shared front end).

    ``seg`` is handed to models with phase channels only if the default (neural) method
    made it: they were trained on its phases, so after a springer2016 segmentation or a
    fallback they segment the recording with the neural method themselves."""
    from .classification.tasks import TASKS
    from .segmentation import DEFAULT_METHOD

    if seg is not None and seg.method != DEFAULT_METHOD:
        seg = None
    if sorted(tasks) == sorted(TASKS):
        try:
            res = _classify_all(y, sr, prepared, seg)
            return {t: res[t] for t in tasks}
        except (ModelError, ImportError):
            pass  # a model is missing: classify task by task to report each one
    out: dict[str, Any] = {}
    for t in tasks:
        try:
            out[t] = _classify(y, sr, t, seg)
        except (ModelError, ImportError) as exc:
            out[t] = exc
    return out


def _task_result(task: str, res: Any, uncertain: bool, seg: Segmentation | None
                 ) -> TaskResult:
    if isinstance(res, Exception):
        return TaskResult(task, None, True, f"classifier unavailable: {res}")
    shares = None
    if seg is not None and hasattr(res, "attention_by_phase"):
        shares = res.attention_by_phase(seg)
    return TaskResult(task, res, uncertain, None, shares)


def analyze(source: str | Path | np.ndarray, *, sr: int | None = None,
            segmenter: str = "neural", tasks: tuple[str, ...] | list[str] = DEFAULT_TASKS
            ) -> Analysis:
    """Analyse one recording: quality, segmentation, heart rate and classification.

    Parameters
    ----------
    source : str, Path or np.ndarray [shape=(n,) or (n, channels)]
        An audio file (any format libsndfile reads) or the samples themselves.
    sr : int, optional
        Sample rate in Hz. Required when ``source`` is an array; for a file, the rate to
        resample to (``None`` keeps the file's rate).
    segmenter : str
        Segmentation method (``"neural"`` or ``"springer2016"``); ``"neural"`` falls back
        to ``"springer2016"`` when its model is unavailable.
    tasks : str or sequence of str
        Classification tasks, any of ``"abnormal"``, ``"murmur"``, ``"severity"``.

    Returns
    -------
    Analysis
        ``Analysis.to_dict()`` is the JSON written by ``heartsound analyze``.

    Raises
    ------
    ParameterError
        ``sr`` missing for an array, an unknown task or segmentation method.
    AudioError
        The file is missing, unreadable, empty, silent, too short (< 1 s) or non-finite.

    Examples
    --------
    >>> from heartsound.pipeline import analyze, example_path
    >>> a = analyze(example_path())  # doctest: +SKIP
    >>> a.to_dict()["classification"]["murmur"]["label"]  # doctest: +SKIP
    """
    from .classification.tasks import check_task

    if isinstance(tasks, str):
        tasks = (tasks,)
    tasks = tuple(check_task(t) for t in tasks)
    from .preprocess import Prepared

    rec = _load(source, sr)
    # resampled, band-passed and de-spiked signals and envelopes, computed once and
    # shared by the quality check, the segmenter and the classifiers' front end
    prep = Prepared(rec.y, rec.sr)
    quality = _assess(rec.y, rec.sr, prep)
    seg, note = _segment_with_fallback(rec.y, rec.sr, segmenter, prep)
    prep.release()  # the 1 kHz signals and envelopes are not needed after segmentation
    uncertain = not bool(quality.usable)
    results = _classify_tasks(rec.y, rec.sr, tasks, prep, seg)
    cls = {t: _task_result(t, results[t], uncertain, seg) for t in tasks}
    return Analysis(recording=rec, quality=quality, segmentation=seg,
                    requested_segmenter=segmenter, classification=cls,
                    segmentation_note=note)
