"""Writing a trained classifier as an ONNX model bundle for
:mod:`heartsound.classification`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ...classification.tasks import LABELS
from ..onnx_export import half_precision_weights, strip_debug_info
from ..runtime import import_torch
from .loop import Trained

__all__ = ["export_onnx", "bundle_metadata"]


def bundle_metadata(trained: Trained, *, half_weights: bool = False,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``heartsound`` metadata of an exported classifier: task, labels, aggregation
    rules, front end, hyper-parameters, architecture and weight precision, plus ``extra``
    (e.g. ``corpora``)."""
    cfg = trained.config
    meta = {"task": cfg.task, "labels": list(LABELS[cfg.task]), "rules": trained.rules,
            "frontend": cfg.frontend.to_dict(), "train": cfg.to_dict(),
            "architecture": f"{'bi' if cfg.bidirectional else ''}{cfg.model}+"
                            f"{cfg.attention or 'none'}",
            "weights": "float16" if half_weights else "float32"}
    meta.update(extra or {})
    return meta


def export_onnx(trained: Trained, path: str | Path, *, extra: dict[str, Any] | None = None,
                half_weights: bool = False) -> str:
    """Write ``trained`` as ONNX and return the file's sha256.

    Inputs ``features [batch, frames, n_features]``; outputs ``log_probs [batch,
    n_classes]`` and ``attention [batch, n_classes, ...]``; batch and frames are dynamic
    axes (inference feeds crops of ``crop_frames``; the CNN needs frames divisible by the
    product of ``time_pool``). :func:`bundle_metadata` goes into the ONNX metadata (key
    ``heartsound``, JSON). With ``half_weights`` the large weight tensors are stored as
    float16 and cast back to float32 in the graph
    (:func:`~heartsound.training.onnx_export.half_precision_weights`): half the file
    size, same arithmetic.
    """
    torch = import_torch()
    import onnx

    cfg = trained.config
    net = trained.model.eval()
    x = torch.zeros(1, cfg.frontend.crop_frames, cfg.frontend.n_features)
    path = Path(path)
    torch.onnx.export(net, (x,), str(path), input_names=["features"],
                      output_names=["log_probs", "attention"],
                      dynamic_axes={"features": {0: "batch", 1: "frames"},
                                    "log_probs": {0: "batch"},
                                    "attention": {0: "batch", 2: "frames_out"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(path))
    del m.metadata_props[:]
    p = m.metadata_props.add()
    p.key = "heartsound"
    p.value = json.dumps(bundle_metadata(trained, half_weights=half_weights, extra=extra))
    m = strip_debug_info(m)
    onnx.save(half_precision_weights(m) if half_weights else m, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()
