"""Heart-sound classification with attention CNN / RNN models on log-Mel spectrograms.

Three tasks, each a small shipped ONNX model (see :data:`inference.BUNDLES`):

* ``abnormal``: normal / abnormal (PhysioNet 2016 + CirCor);
* ``murmur``: Present / Unknown / Absent (CirCor; per patient with :func:`classify_patient`);
* ``severity``: normal / mild / moderate_severe (CirCor systolic grade).

Method: Ren et al., "Deep attention-based neural networks for explainable heart sound
classification", Machine Learning with Applications 9 (2022) 100322. Every prediction
carries its attention map (:attr:`ClassificationResult.attention`), which
:func:`attention.attention_by_phase` summarises per cardiac phase and
:func:`plot.plot_attention` draws over the spectrogram. Every label also carries its
:class:`decision.Decision` (score, threshold, rule, interval over crops, caveat), severity
is graded only for a murmur (:func:`inference.cohere_severity`), and
:func:`evidence.occlusion_by_phase` measures which phase the decision depends on.

Nothing heavy is imported until used; inference never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["classify", "classify_all", "classify_patient", "ClassificationResult",
           "load_bundle", "BUNDLES", "TASKS", "LABELS", "log_mel", "FrontendConfig",
           "attention_by_phase", "plot_attention", "Decision", "decide",
           "cohere_severity", "occlusion_by_phase"]

_LAZY = {
    "classify": "inference", "classify_all": "inference", "classify_patient": "inference",
    "ClassificationResult": "inference", "load_bundle": "inference", "BUNDLES": "inference",
    "TASKS": "tasks", "LABELS": "tasks", "log_mel": "frontend", "FrontendConfig": "frontend",
    "attention_by_phase": "attention", "plot_attention": "plot",
    "Decision": "decision", "decide": "decision", "cohere_severity": "inference",
    "occlusion_by_phase": "evidence",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
