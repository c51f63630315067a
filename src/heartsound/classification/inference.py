"""Running the shipped attention classifiers with ONNX Runtime (no torch).

A :class:`ModelBundle` describes each shipped model in one place: the ONNX file and its
sha256 (:data:`BUNDLES`), and, read from the ONNX metadata written at export, the front-end
parameters (sample rate, window, crop length), the class labels and the patient-level
aggregation rules. Inference follows the training pipeline exactly:
:func:`~heartsound.classification.frontend.features` (the log-Mel spectrogram, and for
models trained with phase channels the segmentation's cardiac phases) over the whole
recording, crops of
``crop_frames`` every ``crop_hop`` frames, the mean of the crops' log-probabilities, and the
crops' attention maps stitched over the whole recording.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from ..errors import ModelError
from .frontend import (FrontendConfig, crops, features as frontend_features, frame_times,
                       log_mel, with_phases)
from .tasks import LABELS, TASKS, aggregate_patient, check_task

__all__ = ["ModelBundle", "BUNDLES", "ClassificationResult", "classify", "classify_all",
           "classify_patient", "load_bundle", "TASKS"]


@dataclass(frozen=True)
class ModelBundle:
    """A shipped classifier: its file, checksum and everything inference needs.

    Attributes
    ----------
    task : str
    file : str
        File name inside ``heartsound.models``.
    sha256 : str
        Checksum of the file (also printed in the model card).
    """

    task: str
    file: str
    sha256: str

    @property
    def card(self) -> str:
        """Model card file name."""
        return self.file.rsplit(".", 1)[0] + ".md"


#: The shipped models, one per task. Update ``sha256`` when a model is retrained.
BUNDLES: dict[str, ModelBundle] = {
    "abnormal": ModelBundle(
        "abnormal", "abnormal.onnx",
        "b09591838274a11f69b6e6839ad5b614673d0152b1b281dfe90c57793f57662c"),
    "murmur": ModelBundle(
        "murmur", "murmur.onnx",
        "c6881d5c3b93125b449e8f89723fc5f062826a3993e1216a370be7a4fafbf3c6"),
    "severity": ModelBundle(
        "severity", "severity.onnx",
        "9ffff390698ae6e14d979d4a8ca66b52517050f42a0bdb58e818d6121535629b"),
}


@dataclass
class _Loaded:
    bundle: ModelBundle
    session: Any
    meta: dict[str, Any]
    frontend: FrontendConfig
    labels: tuple[str, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return f"{self.bundle.file.rsplit('.', 1)[0]}:{self.meta.get('architecture', '?')}" \
               f":{self.bundle.sha256[:8]}"


def _model_bytes(file: str) -> bytes:
    from importlib.resources import files

    try:
        return files("heartsound.models").joinpath(file).read_bytes()
    except (FileNotFoundError, OSError) as exc:
        raise ModelError(f"model file heartsound/models/{file} is missing ({exc})") from None


def _session(bundle: ModelBundle, data: bytes, threads: int, where: str) -> _Loaded:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{where}: cannot be loaded ({exc})") from None
    raw = sess.get_modelmeta().custom_metadata_map.get("heartsound")
    if raw is None:
        raise ModelError(f"{where}: no 'heartsound' metadata (not exported by heartsound)")
    meta = json.loads(raw)
    task = bundle.task
    if meta.get("task") != task or tuple(meta.get("labels", ())) != LABELS[task]:
        raise ModelError(f"{where}: metadata describe task {meta.get('task')!r} with labels "
                         f"{meta.get('labels')}, expected {task!r}")
    return _Loaded(bundle, sess, meta, FrontendConfig.from_dict(meta["frontend"]), LABELS[task])


@lru_cache(maxsize=None)
def _load(task: str, threads: int = 1, path: str | None = None) -> _Loaded:
    """The shipped bundle of ``task`` (checksum verified), or an ONNX file at ``path``
    exported by :func:`heartsound.training.classifier.export_onnx`."""
    check_task(task)
    if path is not None:
        from pathlib import Path

        p = Path(path)
        if not p.is_file():
            raise ModelError(f"{p}: model file not found")
        data = p.read_bytes()
        b = ModelBundle(task, p.name, hashlib.sha256(data).hexdigest())
        return _session(b, data, threads, str(p))
    b = BUNDLES[task]
    data = _model_bytes(b.file)
    sha = hashlib.sha256(data).hexdigest()
    if sha != b.sha256:
        raise ModelError(f"heartsound/models/{b.file}: sha256 {sha[:12]}... does not match "
                         f"the bundle ({b.sha256[:12]}...); reinstall heartsound")
    return _session(b, data, threads, f"heartsound/models/{b.file}")


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
    label : str
        Predicted class.
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
    """

    task: str
    label: str
    probabilities: dict[str, float]
    model: str
    attention: np.ndarray
    attention_times_s: np.ndarray
    attention_freqs_hz: np.ndarray | None = None
    spectrogram: np.ndarray | None = None
    crop_probabilities: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{label, probabilities, model}`` (JSON-ready)."""
        return {"label": self.label,
                "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
                "model": self.model}

    def attention_by_phase(self, segmentation: Any) -> dict[str, float]:
        """Share of attention in S1, systole, S2, diastole (and unsegmented) given a
        :class:`~heartsound.segmentation.result.Segmentation` of the same recording."""
        from .attention import attention_by_phase

        return attention_by_phase(self.attention, self.attention_times_s, segmentation)


#: Crops per ONNX Runtime call: bounds the session's memory arena (a 1-hour recording
#: in one call grew it by ~800 MB per model); outputs are bit-identical to one call.
RUN_BATCH = 32


def _run(m: _Loaded, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outs = []
    with m.lock:
        for i in range(0, len(batch), RUN_BATCH):
            x = np.ascontiguousarray(batch[i:i + RUN_BATCH], dtype=np.float32)
            outs.append(m.session.run(None, {"features": x}))
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def classify(y: np.ndarray, sr: int, *, task: str = "abnormal", threads: int = 1,
             features: np.ndarray | None = None, model: str | None = None,
             segmentation: Any = None) -> ClassificationResult:
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

    Returns
    -------
    ClassificationResult

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
    from ..io import validate_audio
    from .attention import stitch

    check_task(task)
    if features is None:
        y = validate_audio(y, sr)
    m = _load(task, threads, None if model is None else str(model))
    fe = m.frontend
    if features is None:
        feat = frontend_features(y, sr, fe, segmentation=segmentation)
    else:
        feat = np.asarray(features, np.float32)
    if feat.ndim != 2 or feat.shape[1] != fe.n_features:
        from ..errors import ParameterError

        raise ParameterError(f"features must have shape (n_frames, {fe.n_features}) for "
                             f"the {task} model, got {feat.shape}")
    batch, starts = crops(feat, fe)
    lp, att = _run(m, batch)
    mean = lp.mean(axis=0)
    p = np.exp(mean - mean.max())
    p /= p.sum()
    k = int(np.argmax(p))
    if task == "abnormal":
        k = int(p[1] >= m.meta.get("rules", {}).get("threshold", 0.5))
    elif task == "murmur":
        label, _ = aggregate_patient(task, p[None], m.meta.get("rules"))
        k = m.labels.index(label)
    elif task == "severity":
        label, _ = aggregate_patient(task, p[None], m.meta.get("rules"))
        k = m.labels.index(label)
    attention = stitch(att[:, k], starts, feat.shape[0], fe.crop_frames, fe.n_mels)
    freqs = None
    if attention.ndim == 2:
        from .frontend import hz_to_mel, mel_to_hz

        edges = mel_to_hz(np.linspace(hz_to_mel(fe.fmin), hz_to_mel(fe.fmax), fe.n_mels + 2))
        freqs = edges[1:-1]
    cp = np.exp(lp)
    cp /= cp.sum(axis=1, keepdims=True)
    return ClassificationResult(
        task=task, label=m.labels[k],
        probabilities={lab: float(v) for lab, v in zip(m.labels, p)}, model=m.name,
        attention=attention, attention_times_s=frame_times(feat.shape[0], fe),
        attention_freqs_hz=freqs, spectrogram=feat[:, :fe.n_mels], crop_probabilities=cp)


def classify_all(y: np.ndarray, sr: int, *, threads: int = 1,
                 prepared: Any = None, segmentation: Any = None
                 ) -> dict[str, ClassificationResult]:
    """:func:`classify` for every task (``abnormal``, ``murmur``, ``severity``).

    ``prepared`` (a :class:`heartsound.preprocess.Prepared` of ``y``) supplies the
    signal already resampled to the front end's rate when another stage made it;
    ``segmentation`` the recording's segmentation for models with phase channels."""
    from ..io import validate_audio

    y = validate_audio(y, sr)
    if prepared is not None and not prepared.matches(y, sr):
        prepared = None
    out: dict[str, ClassificationResult] = {}
    cache: dict[str, np.ndarray] = {}
    if segmentation is None and any(_load(t, threads).frontend.phase_channels for t in TASKS):
        from ..segmentation import segment

        segmentation = segment(y, sr, prepared=prepared)  # once for every phase model
    for t in TASKS:
        fe = _load(t, threads).frontend
        # one log-Mel per front end without the phases: models that differ only in
        # having phase channels share it
        mel_fe = replace(fe, phase_channels=False)
        key = json.dumps(mel_fe.to_dict(), sort_keys=True)
        if key not in cache:
            if prepared is not None and int(sr) == sr:
                cache[key] = log_mel(prepared.resampled(fe.sr), fe.sr, mel_fe)
            else:
                cache[key] = log_mel(y, sr, mel_fe)
        feat = with_phases(cache[key], segmentation, fe) if fe.phase_channels else cache[key]
        out[t] = classify(y, sr, task=t, threads=threads, features=feat)
        out[t].spectrogram = cache[key]  # the same values; the phase-channel copy is freed
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
        from ..errors import ParameterError

        raise ParameterError("classify_patient needs at least one recording")
    probs = np.array([[r.probabilities[lab] for lab in m.labels] for r in res])
    label, pp = aggregate_patient(task, probs, m.meta.get("rules"))
    return label, {lab: float(v) for lab, v in zip(m.labels, pp)}, res
