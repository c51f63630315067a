"""Writing a trained segmenter as ONNX for :mod:`heartsound.segmentation.neural`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..._version import __version__
from ...features import FEATURE_NAMES
from ...vocab import FRAME_RATE, NEURAL_BANDS_HZ, STATES
from ..onnx_export import strip_debug_info
from ..runtime import import_torch
from .loop import Trained
from .model import SegmenterNet, time_multiple

__all__ = ["export_onnx", "onnx_metadata"]


def onnx_metadata(trained: Trained, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """The metadata :func:`~heartsound.segmentation.neural.load_model` reads: feature
    count and names, frame rate, labels, time multiple, state priors, S1/S2 durations,
    configuration, heartsound version and references, plus ``extra`` (as strings)."""
    cfg = trained.config
    names = list(FEATURE_NAMES) + [f"logband_{lo:g}_{hi:g}Hz" for lo, hi in NEURAL_BANDS_HZ]
    meta = {"n_features": str(trained.n_features), "frame_rate": str(FRAME_RATE),
            "labels": json.dumps(list(STATES)), "feature_names": json.dumps(names),
            "time_multiple": str(time_multiple(cfg.widths)),
            "state_priors": json.dumps(trained.state_priors),
            "sound_durations": json.dumps(trained.sound_durations),
            "config": json.dumps(cfg.to_dict()), "heartsound_version": __version__,
            "method": "neural", "reference": "Renna, Oliveira, Coimbra, IEEE JBHI 2019; "
            "Springer, Tarassenko, Clifford, IEEE TBME 2016"}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    return meta


def export_onnx(trained: Trained, path: str | Path, *, extra: dict[str, Any] | None = None
                ) -> str:
    """Write the network (softmax output) as ONNX with a dynamic time axis.

    Uses the ``torch.onnx`` dynamo exporter (opset 18). Input
    ``features [batch, time, n_features]`` float32 with ``time`` a multiple of
    ``time_multiple`` (stored in the metadata), output ``posteriors [batch, time, 4]``;
    the metadata is :func:`onnx_metadata`.

    Returns
    -------
    str
        sha256 of the written file.
    """
    torch = import_torch()
    import onnx

    cfg = trained.config
    net = SegmenterNet(trained.n_features, cfg.widths, cfg.dropout, softmax=True)
    net.load_state_dict(trained.model.state_dict())
    net.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mult = time_multiple(cfg.widths)
    dummy = torch.randn(1, 25 * mult, trained.n_features)
    tmp = path.with_suffix(".tmp.onnx")
    steps = torch.export.Dim("time_steps", min=1, max=1_000_000)
    prog = torch.onnx.export(
        net, (dummy,), input_names=["features"], output_names=["posteriors"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch", max=1024), 1: mult * steps}},
        dynamo=True, opset_version=18, verbose=False)
    prog.save(str(tmp))
    m = onnx.load(str(tmp))
    del m.metadata_props[:]
    for k, v in onnx_metadata(trained, extra).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.doc_string = "heartsound neural segmenter: per-frame S1/systole/S2/diastole posteriors"
    onnx.save(strip_debug_info(m), str(path))
    tmp.unlink(missing_ok=True)
    return hashlib.sha256(path.read_bytes()).hexdigest()
