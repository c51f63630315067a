"""The attention-pooled embedding of a recording: what the classifier head of the shipped
``abnormal`` model sees, for site adaptations that refit that head (``heartsound
calibrate --method head``).

The attention head (Ren et al. 2022) computes, for each class k, the vector
``e_k = sum_t w_k(t) h(t)`` (``h``: the body's features, ``[C]`` per frame; ``w_k``: the
class's attention weights over the frames, summing to one) and the class's logit
``W_k . e_k + b_k``. :func:`add_embedding_output` adds ``e`` to an exported classifier's
ONNX graph as the output ``embedding [batch, n_classes, C]`` (a ``Transpose`` and a
``MatMul`` on tensors the graph already computes: weights and the other outputs
unchanged). :func:`recording_embedding` runs such a model on the crops of one recording
and pools them as inference pools the crops' log-probabilities (their mean): the
recording's logit of class 1 against class 0 is then linear in the pooled embedding.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..classification.crops import crop_rows, crop_starts
from ..classification.frontend import FrontendConfig
from ..errors import ModelError

__all__ = ["EMBEDDING_OUTPUT", "add_embedding_output", "recording_embedding"]

#: Name of the added graph output.
EMBEDDING_OUTPUT = "embedding"
#: Crops per run (as :data:`heartsound.classification.inference.RUN_BATCH`).
_BATCH = 32


def add_embedding_output(model: Any) -> Any:
    """A copy of an exported classifier (``onnx.ModelProto``) with the output
    :data:`EMBEDDING_OUTPUT` ``[batch, n_classes, C]`` added after the existing ones.

    The body's features are the first input of the head's class convolution (the
    ``Conv`` whose weight is ``head.cla.weight``), ``[batch, C, frames_out]``; the
    attention weights are the graph's ``attention`` output ``[batch, n_classes,
    frames_out]`` (RNN bodies only: a CNN's attention also spans the Mel bands).

    Raises
    ------
    ModelError
        The graph has no such head or already has the output.
    """
    import onnx
    from onnx import helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    if any(o.name == EMBEDDING_OUTPUT for o in g.output):
        raise ModelError(f"the model already has an output {EMBEDDING_OUTPUT!r}")
    conv = [n for n in g.node if n.op_type == "Conv" and len(n.input) > 1
            and n.input[1] == "head.cla.weight"]
    if len(conv) != 1 or "attention" not in [o.name for o in g.output]:
        raise ModelError("not an exported attention classifier (no head.cla convolution "
                         "or no 'attention' output)")
    body = conv[0].input[0]
    att_dims = [o for o in g.output if o.name == "attention"][0].type.tensor_type.shape.dim
    if len(att_dims) != 3:
        raise ModelError("the embedding output needs an RNN body (attention over time)")
    g.node.extend([
        helper.make_node("Transpose", [body], ["embedding_body_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["attention", "embedding_body_t"], [EMBEDDING_OUTPUT])])
    g.output.append(helper.make_tensor_value_info(
        EMBEDDING_OUTPUT, onnx.TensorProto.FLOAT, ["batch", att_dims[1].dim_value or None,
                                                   None]))
    onnx.checker.check_model(m)
    return m


def recording_embedding(run: Callable[[np.ndarray], list[np.ndarray]], features: np.ndarray,
                        frontend: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mean log-probabilities and mean embedding over the crops of one recording.

    Parameters
    ----------
    run : callable
        ``run(batch [n, crop_frames, n_features] float32)`` -> the model's outputs
        ``[log_probs, attention, embedding]`` (e.g. an onnxruntime session's ``run(None,
        {"features": batch})``).
    features : np.ndarray [shape=(n_frames, n_features)]
        The model's front-end features of the recording.
    frontend : FrontendConfig
        The model's front end (crop length and hop).

    Returns
    -------
    log_probs : np.ndarray [shape=(n_classes,)]
        Mean over the crops (inference's pooling, before renormalisation).
    embedding : np.ndarray [shape=(n_classes * C,)]
        Mean over the crops, classes concatenated.
    """
    f = np.asarray(features, np.float32)
    starts = crop_starts(len(f), frontend)
    lps, embs = [], []
    for i in range(0, len(starts), _BATCH):
        out = run(f[crop_rows(starts[i:i + _BATCH], len(f), frontend.crop_frames)])
        if len(out) < 3:
            raise ModelError("the model has no embedding output (add_embedding_output)")
        lps.append(out[0])
        embs.append(out[2].reshape(len(out[2]), -1))
    return np.concatenate(lps).mean(axis=0), np.concatenate(embs).mean(axis=0)
