"""Helpers shared by the ONNX exporters of the trained models."""

from __future__ import annotations

from typing import Any

__all__ = ["strip_debug_info"]


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
