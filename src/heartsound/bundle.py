"""Model bundles: every shipped model, its checksum and what describes it, loaded one way.

A :class:`ModelBundle` ties together what is known about one model file (after
torchaudio's ``Wav2Vec2Bundle``): where the file is, its sha256, the sample and frame
rates, the output labels, the rest of its metadata and the model card beside it.
:data:`REGISTRY` is the one place where each shipped file and its expected sha256 are
recorded; :func:`load` reads a file (``importlib.resources`` for shipped ones), checks
the sha256 of every shipped file, opens ONNX files with ONNX Runtime
(:func:`onnx_session`, the one function that creates sessions, thread counts set
explicitly) and keeps the result in one cache.

One metadata layout: :attr:`ModelBundle.metadata` is a plain dict of JSON values. The
classifiers store it as one JSON document under the ONNX metadata key ``heartsound``,
the neural segmenter as one JSON value per ONNX metadata key, the Springer model as
the JSON file itself; :func:`load` reads all three into the same dict, whose keys
``labels``, ``frame_rate`` and ``frontend.sr`` give :attr:`ModelBundle.labels`,
:attr:`ModelBundle.frame_rate` and :attr:`ModelBundle.sr`.

A missing, corrupt or mismatched file raises :class:`~heartsound.errors.ModelError`
naming the file and what is wrong. Nothing is read at import time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from .errors import ModelError, ParameterError
from .vocab import STATES

__all__ = ["ModelSpec", "ModelBundle", "REGISTRY", "load", "onnx_session", "sha256_of",
           "MODELS_PACKAGE"]

#: Package holding the shipped model files and their cards.
MODELS_PACKAGE = "heartsound.models"


@dataclass(frozen=True)
class ModelSpec:
    """A shipped model file and what it must be.

    Attributes
    ----------
    name : str
        Registry key (``"segmenter_neural"``, ``"springer2016"``, or a task name).
    file : str
        File name inside :data:`MODELS_PACKAGE`.
    sha256 : str
        Expected checksum of the file (also printed in the model card).
    labels : tuple of str
        The outputs the file must declare.
    """

    name: str
    file: str
    sha256: str
    labels: tuple[str, ...]

    @property
    def card(self) -> str:
        """Model card file name (beside the model file)."""
        return self.file.rsplit(".", 1)[0] + ".md"

    @property
    def kind(self) -> str:
        """``"onnx"`` or ``"json"``."""
        return self.file.rsplit(".", 1)[1]


#: The shipped models. Update ``sha256`` (and the card) when a model is retrained.
REGISTRY: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("segmenter_neural", "segmenter_neural.onnx",
              "2ebd833b96f06f8843a935e6b0331ffc557fa67b3ad998e13aa551a67adc9351", STATES),
    ModelSpec("springer2016", "springer2016.json",
              "ecdfc42950e33473c94b130110b886f5b270f323b2747b1682813bc9e7b7a6e3", STATES),
    ModelSpec("abnormal", "abnormal.onnx",
              "b09591838274a11f69b6e6839ad5b614673d0152b1b281dfe90c57793f57662c",
              ("normal", "abnormal")),
    ModelSpec("murmur", "murmur.onnx",
              "c6881d5c3b93125b449e8f89723fc5f062826a3993e1216a370be7a4fafbf3c6",
              ("Present", "Unknown", "Absent")),
    ModelSpec("severity", "severity.onnx",
              "9ffff390698ae6e14d979d4a8ca66b52517050f42a0bdb58e818d6121535629b",
              ("normal", "mild", "moderate_severe")),
)}


@dataclass(frozen=True)
class ModelBundle:
    """A loaded model and everything that describes it.

    Attributes
    ----------
    name : str
        Registry key of the model kind (see :data:`REGISTRY`).
    path : str
        Where the file was read from (``heartsound/models/<file>`` for shipped ones).
    sha256 : str
        Checksum of the bytes that were loaded (checked against :data:`REGISTRY` for
        shipped files).
    metadata : dict
        The model's metadata as JSON values (see the module docstring).
    session : onnxruntime.InferenceSession or None
        None for a JSON model.
    card : str or None
        Path of the model card (shipped models only).
    """

    name: str
    path: str
    sha256: str
    metadata: dict[str, Any] = field(repr=False)
    session: Any = field(default=None, repr=False, compare=False)
    card: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                  compare=False)

    @property
    def file(self) -> str:
        """File name of the model."""
        return Path(self.path).name

    @property
    def labels(self) -> tuple[str, ...]:
        """Output labels, in output column order."""
        return tuple(self.metadata.get("labels") or self.metadata.get("states") or ())

    @property
    def frame_rate(self) -> float | None:
        """Frames per second of the model's input and output (segmenters), else None."""
        fr = self.metadata.get("frame_rate")
        return None if fr is None else float(fr)

    @property
    def sr(self) -> int | None:
        """Audio rate (Hz) of the model's front end (classifiers), else None."""
        sr = (self.metadata.get("frontend") or {}).get("sr")
        return None if sr is None else int(sr)

    @property
    def id(self) -> str:
        """``<file stem>:<architecture>:<sha256 prefix>``, the model's short identity."""
        return (f"{self.file.rsplit('.', 1)[0]}:{self.metadata.get('architecture', '?')}"
                f":{self.sha256[:8]}")

    def run(self, inputs: dict[str, Any]) -> list[Any]:
        """Run the ONNX session on ``inputs`` (input name -> array); thread-safe.

        Raises
        ------
        ModelError
            The bundle holds no ONNX session (a JSON model).
        """
        if self.session is None:
            raise ModelError(f"{self.path}: not an ONNX model")
        with self._lock:
            return self.session.run(None, inputs)


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _models_dir() -> Any:
    """The :data:`MODELS_PACKAGE` folder (a Traversable)."""
    return files(MODELS_PACKAGE)


def _read(spec: ModelSpec, path: str | Path | None) -> tuple[bytes, str, str]:
    """The file's bytes, how to name it and its sha256; shipped files are checked
    against ``spec``."""
    if path is not None:
        try:
            data = Path(path).read_bytes()
            return data, str(path), sha256_of(data)
        except FileNotFoundError:
            raise ModelError(f"{path}: model file not found") from None
        except OSError as exc:
            raise ModelError(f"{path}: cannot read model ({exc.strerror or exc})") from None
    where = f"heartsound/models/{spec.file}"
    try:
        data = _models_dir().joinpath(spec.file).read_bytes()
    except (FileNotFoundError, OSError) as exc:
        raise ModelError(f"{where}: shipped model file is missing ({exc}); reinstall "
                         "heartsound") from None
    sha = sha256_of(data)
    if sha != spec.sha256:
        raise ModelError(f"{where}: sha256 {sha[:12]}... does not match the registered "
                         f"{spec.sha256[:12]}... (corrupt or replaced file); reinstall "
                         "heartsound")
    return data, where, sha


def onnx_session(data: bytes, *, threads: int = 1, where: str = "<bytes>") -> Any:
    """An ONNX Runtime CPU session with explicit thread counts.

    Parameters
    ----------
    data : bytes
        The ONNX model.
    threads : int
        Intra-op threads; inter-op is 1 and execution sequential, so results do not
        depend on scheduling.
    where : str
        Name of the file, for error messages.

    Raises
    ------
    ModelError
        ONNX Runtime is not installed, or the bytes are not a valid model.
    """
    if int(threads) < 1:
        raise ParameterError(f"threads must be >= 1, got {threads}")
    try:
        import onnxruntime as ort  # heavy, optional: imported on first model load
    except ImportError as exc:
        raise ModelError(f"{where}: onnxruntime is not installed ({exc})") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(data, sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own, undocumented exception types
        raise ModelError(f"{where}: cannot be loaded, not a valid ONNX model ({exc})"
                         ) from None


def _onnx_metadata(session: Any, where: str) -> dict[str, Any]:
    """The ONNX custom metadata as one dict of JSON values."""
    raw = dict(session.get_modelmeta().custom_metadata_map)
    if "heartsound" in raw:  # classifiers: one JSON document
        try:
            return dict(json.loads(raw["heartsound"]))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}: unreadable 'heartsound' metadata ({exc})") from None
    out: dict[str, Any] = {}
    for k, v in raw.items():  # segmenter: one JSON value per key (plain strings kept)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def _json_metadata(data: bytes, where: str) -> dict[str, Any]:
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{where}: corrupt JSON model ({exc})") from None
    if not isinstance(d, dict):
        raise ModelError(f"{where}: not a heartsound model file")
    return d


def load(name: str, *, path: str | Path | None = None, threads: int = 1) -> ModelBundle:
    """Load the model ``name`` (the shipped file, or ``path``), once per arguments.

    Parameters
    ----------
    name : str
        A :data:`REGISTRY` key; says what kind of model the file must be.
    path : str, optional
        Another file of that kind (a cross-validation fold, a study model); its sha256
        is recorded, not checked. Default: the shipped file, whose sha256 must match.
    threads : int
        ONNX Runtime intra-op threads.

    Returns
    -------
    ModelBundle

    Raises
    ------
    ParameterError
        Unknown ``name``.
    ModelError
        Missing or unreadable file, sha256 mismatch, invalid model, or metadata
        declaring other labels than the registry entry.
    """
    stamp = None
    if path is not None:  # a file rewritten in place (a new fold model) is read again
        try:
            st = Path(path).stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            pass  # _read names the problem
    return _load(name, None if path is None else str(path), int(threads), stamp)


@lru_cache(maxsize=None)
def _load(name: str, path: str | None, threads: int, stamp: Any = None) -> ModelBundle:
    """:func:`load` with normalised arguments: the one model cache (``stamp``: the
    modification time and size of a file given by path)."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise ParameterError(f"unknown model {name!r}; valid: {', '.join(REGISTRY)}")
    data, where, sha = _read(spec, path)
    session = None
    if spec.kind == "onnx":
        session = onnx_session(data, threads=threads, where=where)
        meta = _onnx_metadata(session, where)
    else:
        meta = _json_metadata(data, where)
    bundle = ModelBundle(name=name, path=where, sha256=sha, metadata=meta,
                         session=session,
                         card=None if path is not None else f"heartsound/models/{spec.card}")
    if bundle.labels != spec.labels:
        raise ModelError(f"{where}: declares outputs {list(bundle.labels)}; expected "
                         f"{name!r} with {list(spec.labels)}")
    return bundle
