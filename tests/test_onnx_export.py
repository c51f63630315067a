"""Shipped ONNX files carry no machine paths; the exporters strip torch's debug info."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from heartsound.training.onnx_export import half_precision_weights, strip_debug_info  # noqa: E402

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


def test_half_precision_weights_store_float16_and_compute_float32():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)  # small: stays float32
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]),
         helper.make_node("Add", ["xw", "b"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    full = m.SerializeToString()
    half = half_precision_weights(m, min_elements=256)
    types = {i.name: i.data_type for i in half.graph.initializer}
    assert types == {"w__fp16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}
    assert half.graph.node[0].op_type == "Cast"
    data = half.SerializeToString()
    assert len(data) < 0.6 * len(full)
    x = rng.standard_normal((5, 64)).astype(np.float32)
    y = ort.InferenceSession(data).run(None, {"x": x})[0]
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x @ w.astype(np.float16).astype(np.float32) + b, rtol=1e-5,
                               atol=1e-5)
    assert np.abs(y - (x @ w + b)).max() > 0  # rounded, not the float32 weights


@pytest.mark.parametrize("name", ["segmenter_neural.onnx", "abnormal.onnx", "murmur.onnx",
                                  "severity.onnx"])
def test_shipped_models_hold_no_machine_paths(name):
    data = (files("heartsound") / "models" / name).read_bytes()
    assert not _PATH.search(data), name
