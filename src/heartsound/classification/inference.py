"""Running the shipped attention classifiers with ONNX Runtime (no torch).

Each shipped model is a :class:`heartsound.bundle.ModelBundle` (file and sha256 recorded
in :data:`heartsound.bundle.REGISTRY`, checked at load), whose metadata, written at
export, hold the front-end parameters (sample rate, window, crop length), the class
labels and the patient-level aggregation rules. Inference follows the training pipeline exactly:
:func:`~heartsound.classification.frontend.features` (the log-Mel spectrogram, and for
models trained with phase channels the segmentation's cardiac phases) over the whole
recording, crops of
``crop_frames`` every ``crop_hop`` frames, the mean of the crops' log-probabilities, and the
crops' attention maps stitched over the whole recording.

Stretches without signal (:mod:`heartsound.quality_silence`) are left out: normalised
over the other frames, crops cut from those only (:func:`~.crops.signal_rows`), attention
0 over them; a recording without one is classified exactly as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import bundle
from ..bundle import ModelBundle
from ..errors import ModelError, ParameterError
from ..frontend import Frontend, as_frontend
from ..quality_silence import gaps_of, spans_of
from ..segmentation import segment
from .attention import attention_by_phase, stitch
from .decision import Decision, SCORE_NAMES, cohere, decide, decision_score, softmax
from .evidence import blend, occlusion_by_phase
from .crops import crop_rows, crop_starts, scatter_rows, signal_rows
from .frontend import (FrontendConfig, features as frontend_features,
                       frame_times, hz_to_mel, log_mel, mel_to_hz, with_phases)
from .tasks import TASKS, aggregate_patient, check_task

__all__ = ["ModelBundle", "BUNDLES", "ClassificationResult", "classify", "classify_all",
           "classify_patient", "cohere_severity", "load_bundle", "TASKS"]

#: The shipped classifier of each task (file, sha256, card): the task entries of
#: :data:`heartsound.bundle.REGISTRY`.
BUNDLES: dict[str, bundle.ModelSpec] = {t: bundle.REGISTRY[t] for t in TASKS}


@dataclass(frozen=True)
class _Classifier:
    """A classifier's :class:`~heartsound.bundle.ModelBundle` and its log-Mel front end."""

    bundle: ModelBundle
    frontend: FrontendConfig

    @property
    def labels(self) -> tuple[str, ...]:
        return self.bundle.labels

    @property
    def meta(self) -> dict[str, Any]:
        return self.bundle.metadata

    @property
    def name(self) -> str:
        return self.bundle.id


def _load(task: str, threads: int = 1, path: str | Path | None = None) -> _Classifier:
    """The shipped classifier of ``task`` (sha256 checked), or an ONNX file at ``path``
    exported by :func:`heartsound.training.classifier.export_onnx`; loaded once
    (:func:`heartsound.bundle.load`)."""
    check_task(task)
    b = bundle.load(task, path=path, threads=threads)
    if b.metadata.get("task") != task or "frontend" not in b.metadata:
        raise ModelError(f"{b.path}: metadata describe task {b.metadata.get('task')!r}, "
                         f"expected {task!r} with a front end")
    return _Classifier(b, FrontendConfig.from_dict(b.metadata["frontend"]))


def load_bundle(task: str, *, threads: int = 1) -> dict[str, Any]:
    """Describe the shipped model of ``task``: file, sha256, sample rate, input length
    (frames and seconds), labels, rules, architecture and training summary."""
    m = _load(task, threads)
    fe = m.frontend
    return {"task": task, "file": m.bundle.file, "sha256": m.bundle.sha256, "model": m.name,
            "sr": fe.sr, "input_frames": fe.crop_frames, "input_seconds": fe.crop_seconds,
            "labels": list(m.labels), "rules": m.meta.get("rules", {}),
            "frontend": fe.to_dict(), "architecture": m.meta.get("architecture"),
            "train": m.meta.get("train", {}), "corpora": m.meta.get("corpora", [])}


@dataclass
class ClassificationResult:
    """The output of :func:`classify`.

    Attributes
    ----------
    task : str
    label : str or None
        Predicted class by the rule in ``decision``; None when not assessable (severity
        after :func:`cohere_severity` when the murmur is Unknown).
    probabilities : dict
        Class -> probability (sums to one).
    model : str
        ``<file stem>:<architecture>:<sha256 prefix>``.
    attention : np.ndarray [shape=(n_frames, n_mels)] or [shape=(n_frames,)]
        Attention of the predicted class stitched over the whole recording, on the
        front-end frame grid, non-negative and summing to one (CNN: time x Mel band; RNN:
        time only).
    attention_times_s : np.ndarray [shape=(n_frames,)]
        Centre time of each attention row in seconds.
    attention_freqs_hz : np.ndarray [shape=(n_mels,)] or None
        Centre frequency of each Mel band (CNN only).
    spectrogram : np.ndarray [shape=(n_frames, n_mels)]
        The normalised log-Mel features the model saw.
    crop_probabilities : np.ndarray [shape=(n_crops, n_classes)]
        Per-crop probabilities (crops start every ``crop_hop`` frames).
    decision : Decision or None
        What ``label`` rests on: score, threshold, the rule in words, a bootstrap
        interval over the crops and the model card's caveat (:mod:`.decision`).
    evidence_by_phase : dict or None
        Change of the decision score when each cardiac phase is occluded
        (:func:`~.evidence.occlusion_by_phase`); computed when asked for (``evidence=``)
        and the label is a finding (:data:`FINDINGS`): what a negative label rests on is
        the absence of evidence, and occlusion would cost 4 more model runs per task.
    attention_label : str or None
        The class whose attention ``attention`` is: the model's own label (for severity it
        can differ from ``label`` after :func:`cohere_severity`).
    signal_frames : np.ndarray [shape=(n_read,), dtype=int] or None
        The frames the model read (outside the stretches without signal, in order);
        None: every frame.
    """

    task: str
    label: str | None
    probabilities: dict[str, float]
    model: str
    attention: np.ndarray
    attention_times_s: np.ndarray
    attention_freqs_hz: np.ndarray | None = None
    spectrogram: np.ndarray | None = None
    crop_probabilities: np.ndarray | None = None
    decision: Decision | None = None
    evidence_by_phase: dict[str, Any] | None = None
    attention_label: str | None = None
    signal_frames: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.attention_label is None:
            self.attention_label = self.label

    def to_dict(self) -> dict[str, Any]:
        """``{label, probabilities, model, decision}`` and ``evidence_by_phase`` when
        computed; rounded by :func:`heartsound.serialize.to_jsonable` when written."""
        d: dict[str, Any] = {
            "label": self.label,
            "probabilities": {k: float(v) for k, v in self.probabilities.items()},
            "model": self.model}
        if self.decision is not None:
            d["decision"] = self.decision.to_dict()
        if self.evidence_by_phase is not None:
            d["evidence_by_phase"] = self.evidence_by_phase
        return d

    def attention_by_phase(self, segmentation: Any) -> dict[str, float]:
        """Share of attention in S1, systole, S2, diastole (and unsegmented) given a
        :class:`~heartsound.segmentation.result.Segmentation` of the same recording."""
        return attention_by_phase(self.attention, self.attention_times_s, segmentation,
                                  signal=self.signal_frames)


#: Crops per ONNX Runtime call: bounds the session's memory arena (a 1-hour recording
#: in one call grew it by ~800 MB per model); outputs are bit-identical to one call.
RUN_BATCH = 32
#: Labels whose evidence by phase is measured (``evidence=True``): the findings.
FINDINGS: dict[str, frozenset[str]] = {
    "abnormal": frozenset({"abnormal"}),
    "murmur": frozenset({"Present", "Unknown"}),
    "severity": frozenset({"mild", "moderate_severe"}),
}


def _run(m: _Classifier, feat: np.ndarray, starts: np.ndarray,
         transform: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities [shape=(n_crops, n_classes)] and attention of the crops of
    ``feat`` starting at ``starts``, cut :data:`RUN_BATCH` at a time (never the whole
    batch at once); ``transform(batch, rows)`` may change each batch (float32, rows:
    :func:`~.crops.crop_rows`) before it is run."""
    f = np.asarray(feat, dtype=np.float32)
    outs = []
    for i in range(0, len(starts), RUN_BATCH):
        rows = crop_rows(starts[i:i + RUN_BATCH], len(f), m.frontend.crop_frames)
        batch = f[rows]
        if transform is not None:
            batch = transform(batch, rows)
        outs.append(m.bundle.run({"features": batch}))
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def classify(y: np.ndarray, sr: int, *, task: str = "abnormal", threads: int = 1,
             features: np.ndarray | None = None, model: str | None = None,
             segmentation: Any = None, frontend: Frontend | None = None,
             evidence: bool = False,
             no_signal: list[tuple[float, float]] | None = None) -> ClassificationResult:
    """Classify one recording with the shipped attention model of ``task``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples, any length from 1 s (shorter than one model input: tiled).
    sr : int
        Sample rate in Hz (resampled to the model's rate, 2000 Hz).
    task : {"abnormal", "murmur", "severity"}
        ``abnormal``: normal / abnormal; ``murmur``: Present / Unknown / Absent for this
        recording's site; ``severity``: normal / mild / moderate_severe.
    threads : int
        ONNX Runtime intra-op threads (default 1).
    features : np.ndarray [shape=(n_frames, n_features)], optional
        Precomputed :func:`~heartsound.classification.frontend.features` output with the
        model's front end (skips the front end).
    model : str, optional
        Path of an ONNX file exported by :func:`heartsound.training.classifier.export_onnx`
        to use instead of the shipped bundle (for studies).
    segmentation : heartsound.segmentation.Segmentation, optional
        The recording's segmentation, for a model with phase channels (default: the
        default segmenter is run); ignored by the other models.
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end, shared with the other stages (trusted, not validated
        again).
    evidence : bool
        Also measure the decision's evidence per cardiac phase by occlusion
        (``evidence_by_phase``; 4 more model runs; needs ``segmentation`` when
        ``features`` are given), for a label in :data:`FINDINGS` only.
    no_signal : list of (start_s, end_s), optional
        The recording's stretches without signal, left out of the crops (and of the
        normalisation when the features are computed here); default: looked for in
        ``y`` (:func:`~heartsound.quality_silence.no_signal_spans`).

    Returns
    -------
    ClassificationResult
        ``label`` is the model's own rule; for severity, :func:`classify_all` and
        :func:`heartsound.analyze` then make it agree with the murmur decision
        (:func:`cohere_severity`).

    Raises
    ------
    AudioError
        Empty, too short (< 1 s), silent or non-finite audio, or a bad sample rate.
    ParameterError
        Unknown task.
    ModelError
        The model file is missing or corrupt.

    Examples
    --------
    >>> from heartsound import load
    >>> from heartsound.classification import classify
    >>> rec = load("9979_AV.flac")  # doctest: +SKIP
    >>> classify(rec.y, rec.sr, task="murmur").to_dict()  # doctest: +SKIP
    {'label': 'Present', 'probabilities': {...}, 'model': 'murmur:cnn+sigmoid:...'}
    """
    check_task(task)
    src = None if features is not None else as_frontend(y, sr, frontend)
    m = _load(task, threads, model)
    fe = m.frontend
    if no_signal is None:
        no_signal = gaps_of(y, sr, src)
    if src is not None:
        feat = frontend_features(src.y, src.sr, fe, segmentation=segmentation, frontend=src,
                                 no_signal=no_signal)
    else:
        feat = np.asarray(features, np.float32)
    if feat.ndim != 2 or feat.shape[1] != fe.n_features:
        raise ParameterError(f"features must have shape (n_frames, {fe.n_features}) for "
                             f"the {task} model, got {feat.shape}")
    rows = signal_rows(no_signal, len(feat), fe)
    read = feat if rows is None else feat[rows]  # the frames with signal, joined
    starts = crop_starts(read.shape[0], fe)
    lp, att = _run(m, read, starts)
    p, dec = decide(task, lp, m.meta.get("rules"))
    k = m.labels.index(dec.label)
    ev = None
    if evidence and dec.label in FINDINGS[task]:
        if segmentation is None:
            segmentation = segment(src.y, src.sr, frontend=src) if src is not None else None
        if segmentation is not None:
            ev = _evidence(m, task, read, segmentation, float(dec.score), rows, len(feat))
    attention = stitch(att[:, k], starts, read.shape[0], fe.crop_frames, fe.n_mels)
    if rows is not None:  # back on the whole recording's grid, 0 over the stretches
        attention = scatter_rows(attention, rows, len(feat))
    freqs = None
    if attention.ndim == 2:
        edges = mel_to_hz(np.linspace(hz_to_mel(fe.fmin), hz_to_mel(fe.fmax), fe.n_mels + 2))
        freqs = edges[1:-1]
    cp = np.exp(lp)
    cp /= cp.sum(axis=1, keepdims=True)
    return ClassificationResult(
        task=task, label=m.labels[k],
        probabilities={lab: float(v) for lab, v in zip(m.labels, p)}, model=m.name,
        attention=attention, attention_times_s=frame_times(feat.shape[0], fe),
        attention_freqs_hz=freqs, spectrogram=feat[:, :fe.n_mels], crop_probabilities=cp,
        decision=dec, evidence_by_phase=ev, signal_frames=rows)


def _evidence(m: _Classifier, task: str, feat: np.ndarray, segmentation: Any,
              full: float, rows: np.ndarray | None = None, n_frames: int | None = None
              ) -> dict[str, Any] | None:
    """:func:`~.evidence.occlusion_by_phase` of ``m``'s decision score on ``feat``, each
    phase masked crop batch by crop batch (:func:`~.evidence.blend`); ``feat`` holds the
    frames ``rows`` of the ``n_frames`` of the recording (None: all)."""
    starts = crop_starts(len(feat), m.frontend)

    def score(f: np.ndarray, transform: Any = None) -> float:
        lp, _ = _run(m, f, starts, transform)
        return float(decision_score(task, softmax(lp.mean(axis=0))))

    def score_masked(w: np.ndarray, bg: np.ndarray) -> float:
        return score(feat, lambda b, rows: blend(b, w[rows], bg, m.frontend.n_mels))

    return occlusion_by_phase(feat, segmentation, m.frontend, score, SCORE_NAMES[task],
                              full=full, score_masked=score_masked, rows=rows,
                              n_frames=n_frames)


def cohere_severity(severity: ClassificationResult, murmur: ClassificationResult | None,
                    *, threads: int = 1) -> ClassificationResult:
    """``severity`` with its label and decision made to agree with ``murmur`` (same
    recording): graded only when murmur is Present (:func:`~.decision.cohere`). The
    probabilities, attention and occlusion evidence stay the severity model's own."""
    rules = _load("severity", threads).meta.get("rules")
    lp = np.log(np.clip(severity.crop_probabilities, 1e-30, None))
    dec = cohere(lp, None if murmur is None else murmur.decision, rules)
    return replace(severity, label=dec.label, decision=dec)


def classify_all(y: np.ndarray, sr: int, *, threads: int = 1,
                 frontend: Frontend | None = None, segmentation: Any = None,
                 evidence: bool = False) -> dict[str, ClassificationResult]:
    """:func:`classify` for every task (``abnormal``, ``murmur``, ``severity``), severity
    graded only for a murmur (:func:`cohere_severity`; its evidence by phase is measured
    only then).

    ``frontend`` (the recording's :class:`heartsound.frontend.Frontend`) supplies the signal already resampled to the models' rate when
    another stage made it; ``segmentation`` the recording's segmentation for models with
    phase channels (default: the default segmenter, run once for all of them). A result
    keeps its ``spectrogram`` only with a time x frequency attention map (the one a figure
    draws over it; None otherwise), so a long recording holds one log-Mel, not one per
    task."""
    fe = as_frontend(y, sr, frontend)
    gaps = spans_of(fe)  # left out by every model (none: every frame is read)
    out: dict[str, ClassificationResult] = {}
    cache: dict[str, np.ndarray] = {}
    if segmentation is None and (evidence or any(_load(t, threads).frontend.phase_channels
                                                 for t in TASKS)):
        segmentation = segment(fe.y, fe.sr, frontend=fe)  # once for every phase model
    cfgs = {t: _load(t, threads).frontend for t in TASKS}
    # one log-Mel per front end without the phases: models that differ only in having
    # phase channels share it; dropped after its last task
    keys = {t: json.dumps(replace(c, phase_channels=False).to_dict(), sort_keys=True)
            for t, c in cfgs.items()}
    for i, t in enumerate(TASKS):
        cfg, key = cfgs[t], keys[t]
        if key not in cache:
            cache[key] = log_mel(fe.y, fe.sr, replace(cfg, phase_channels=False), frontend=fe,
                                 no_signal=gaps)
        feat = with_phases(cache[key], segmentation, cfg) if cfg.phase_channels else cache[key]
        graded = t != "severity" or out["murmur"].label == "Present"  # else not graded
        res = classify(fe.y, fe.sr, task=t, threads=threads, features=feat,
                       segmentation=segmentation, evidence=evidence and graded,
                       no_signal=gaps)
        del feat
        # the same values, kept only where a figure draws them (time x frequency maps)
        res.spectrogram = cache[key] if res.attention.ndim == 2 else None
        out[t] = res
        if all(keys[u] != key for u in TASKS[i + 1:]):
            del cache[key]
    out["severity"] = cohere_severity(out["severity"], out["murmur"], threads=threads)
    return out


def classify_patient(recordings: Sequence[tuple[np.ndarray, int]], *, task: str = "murmur",
                     threads: int = 1) -> tuple[str, dict[str, float],
                                                list[ClassificationResult]]:
    """Combine several recordings of one patient (e.g. the AV, PV, TV, MV sites) into one
    decision with the bundle's tuned aggregation rule (see :mod:`.tasks`).

    Parameters
    ----------
    recordings : sequence of (y, sr)
    task : str

    Returns
    -------
    label : str
    probabilities : dict
        Patient-level class scores (see :func:`~.tasks.aggregate_patient`).
    per_recording : list of ClassificationResult
    """
    check_task(task)
    m = _load(task, threads)
    res = [classify(y, sr, task=task, threads=threads) for y, sr in recordings]
    if not res:
        raise ParameterError("classify_patient needs at least one recording")
    probs = np.array([[r.probabilities[lab] for lab in m.labels] for r in res])
    label, pp = aggregate_patient(task, probs, m.meta.get("rules"))
    return label, {lab: float(v) for lab, v in zip(m.labels, pp)}, res
