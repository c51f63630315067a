"""Shipped ONNX files carry no machine paths; the exporters strip torch's debug info."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from heartsound.training.onnx_export import strip_debug_info  # noqa: E402

_PATH = re.compile(rb"(/(tmp|work|root|home|usr|opt)/|[A-Za-z]:\\\\)")


def test_strip_debug_info_keeps_model_metadata_and_result():
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    p = node.metadata_props.add()
    p.key, p.value = "pkg.torch.onnx.stack_trace", f'File "{Path.home() / "train.py"}", line 3'
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    q = m.metadata_props.add()
    q.key, q.value = "labels", "[1, 2]"
    out = strip_debug_info(m)
    data = out.SerializeToString()
    assert str(Path.home()).encode() not in data and not _PATH.search(data)
    assert [(x.key, x.value) for x in out.metadata_props] == [("labels", "[1, 2]")]
    y = ort.InferenceSession(data).run(None, {"x": np.array([-1.0, 2.0], np.float32)})[0]
    np.testing.assert_array_equal(y, [0.0, 2.0])


@pytest.mark.parametrize("name", ["segmenter_neural.onnx", "abnormal.onnx", "murmur.onnx",
                                  "severity.onnx"])
def test_shipped_models_hold_no_machine_paths(name):
    data = (files("heartsound") / "models" / name).read_bytes()
    assert not _PATH.search(data), name
