"""Helpers shared by the ONNX exporters of the trained models."""

from __future__ import annotations

from typing import Any

__all__ = ["strip_debug_info", "half_precision_weights"]


def strip_debug_info(model: Any) -> Any:
    """Remove what the torch exporter records for debugging from an ``onnx.ModelProto``.

    torch's dynamo exporter stores, per node, the Python stack trace, module names and FX
    node names (``metadata_props``), which hold absolute paths of the machine that
    exported the model. They do not affect the computation; the shipped files must not
    carry them. Model-level metadata (``model.metadata_props``) is kept.
    """
    def graph(g: Any) -> None:
        for n in g.node:
            del n.metadata_props[:]
            n.doc_string = ""
            for a in n.attribute:
                if a.HasField("g"):
                    graph(a.g)
                for sg in a.graphs:
                    graph(sg)
        g.doc_string = ""

    graph(model.graph)
    for f in model.functions:
        for n in f.node:
            del n.metadata_props[:]
            n.doc_string = ""
    return model


def half_precision_weights(model: Any, *, min_elements: int = 256) -> Any:
    """Store the large float32 weights of an ``onnx.ModelProto`` as float16.

    Each float32 initializer with at least ``min_elements`` values is replaced by a float16
    copy and a ``Cast`` node back to float32 under the original name, so every operator
    still computes in float32 and ONNX Runtime folds the casts into constants when the
    session is created: the file is about half the size, inference speed is unchanged, and
    the outputs move only by the weights' rounding (relative error below 2**-11 per
    weight). Small tensors (biases, shapes) stay float32. Returns ``model``, modified.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inputs = {i.name for i in g.input}  # initializers listed as inputs can be overridden
    casts, keep = [], []
    for init in g.initializer:
        n = int(np.prod(init.dims)) if len(init.dims) else 1
        if init.data_type != TensorProto.FLOAT or n < min_elements or init.name in inputs:
            keep.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                       f"{init.name}__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__cast"))
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model
