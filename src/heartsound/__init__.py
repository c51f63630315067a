"""heartsound: heart-sound (phonocardiogram) segmentation, classification and reports.

The pipeline reads top to bottom: :func:`load` -> :func:`assess` (signal quality) ->
:func:`segment` -> :func:`classify` -> :func:`analyze` (all of these, one
:class:`Analysis`) -> :func:`plot` and the writers of :mod:`heartsound.report`.

>>> import heartsound
>>> a = heartsound.analyze(heartsound.example_path())  # doctest: +SKIP
>>> a.heart_rate_bpm, a.segmentation.events()[0].onset  # doctest: +SKIP
>>> fig = heartsound.plot(a)  # doctest: +SKIP

Every name below is imported on first use, so ``import heartsound`` is cheap (no numpy,
no onnxruntime, no matplotlib); torch is never imported for inference.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import AudioError, HeartsoundError, ModelError, ParameterError

#: Public name -> (module, attribute); attribute None means the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    "load": ("heartsound.io", "load"),
    "Recording": ("heartsound.io", "Recording"),
    "analyze": ("heartsound.pipeline", "analyze"),
    "Analysis": ("heartsound.pipeline", "Analysis"),
    "TaskResult": ("heartsound.pipeline", "TaskResult"),
    "segment": ("heartsound.segmentation", "segment"),
    "Segmentation": ("heartsound.segmentation.result", "Segmentation"),
    "Event": ("heartsound.segmentation.result", "Event"),
    "Stream": ("heartsound.streaming", "Stream"),
    "classify": ("heartsound.classification.inference", "classify"),
    "classify_all": ("heartsound.classification.inference", "classify_all"),
    "ClassificationResult": ("heartsound.classification.inference", "ClassificationResult"),
    "assess": ("heartsound.quality", "assess"),
    "Quality": ("heartsound.quality", "Quality"),
    "plot": ("heartsound.plotting", "plot"),
    "plot_segmentation": ("heartsound.plotting", "plot_segmentation"),
    "plot_attention": ("heartsound.plotting", "plot_attention"),
    "example_path": ("heartsound.example", "example_path"),
    "synthetic_pcg": ("heartsound.example", "synthetic_pcg"),
    "metrics": ("heartsound.evaluation.metrics", None),
    "datasets": ("heartsound.datasets", None),
}

__all__ = ["__version__", "HeartsoundError", "AudioError", "ModelError", "ParameterError",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, attr = _LAZY[name]
        m = importlib.import_module(mod)
        return m if attr is None else getattr(m, attr)
    raise AttributeError(f"module 'heartsound' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
