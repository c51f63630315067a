"""heartsound: heart-sound (phonocardiogram) segmentation, classification and reports.

The pipeline reads top to bottom: :func:`load` -> :mod:`preprocess` -> :mod:`features`
-> :func:`segment` -> :func:`classify` -> :func:`analyze` -> reports. Heavy modules are
imported lazily so ``import heartsound`` is cheap; torch is never imported for inference.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import HeartsoundError
from .io import Recording, load

__all__ = ["__version__", "HeartsoundError", "Recording", "load", "segment", "classify",
           "analyze", "metrics", "datasets"]

_LAZY = {
    "segment": ("heartsound.segmentation", "segment"),
    "classify": ("heartsound.classification", "classify"),
    "analyze": ("heartsound.pipeline", "analyze"),
    "metrics": ("heartsound.evaluation.metrics", None),
    "datasets": ("heartsound.datasets", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, attr = _LAZY[name]
        m = importlib.import_module(mod)
        return m if attr is None else getattr(m, attr)
    raise AttributeError(f"module 'heartsound' has no attribute {name!r}")
