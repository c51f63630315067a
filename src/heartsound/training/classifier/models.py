"""The networks of Ren et al. (2022): a CNN or a stacked LSTM/GRU body and the global
attention-pooling head, the gradient-reversal layer of domain-adversarial training, and
the ensemble of cross-fitted members.

Inputs are log-Mel crops ``[batch, frames, n_features]``; outputs ``(log_probs [batch,
n_classes], attention)`` with attention ``[batch, n_classes, t, f]`` for the CNN and
``[batch, n_classes, t]`` for the RNNs. torch is imported on first use; the module
classes are made then and kept.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ...classification.tasks import LABELS
from ..runtime import import_torch
from .config import TrainConfig

__all__ = ["build_model", "feature_dim", "gradient_reversal", "ensemble_module"]


@functools.cache
def _head_class() -> type:
    torch = import_torch()
    nn = torch.nn

    class AttentionHead(nn.Module):
        """Global attention pooling (Ren et al. 2022, Sec. 3): A = conv1x1(h),
        B = norm(rect(conv1x1(h))), class vector = sum(A * B) over the map.

        ``mode`` None gives global average pooling of A (the paper's "no attention")."""

        def __init__(self, c: int, dims: int, n_cls: int, mode: str | None) -> None:
            super().__init__()
            conv = nn.Conv2d if dims == 2 else nn.Conv1d
            self.cla = conv(c, n_cls, 1)
            self.att = conv(c, n_cls, 1)
            self.mode = mode

        def forward(self, h: Any) -> tuple[Any, Any]:  # h [B, C, *map]
            a = self.cla(h)
            shape = a.shape
            af = a.flatten(2)
            if self.mode is None:
                w = torch.full_like(af, 1.0 / af.shape[-1])
            elif self.mode == "softmax":
                w = torch.softmax(self.att(h).flatten(2), dim=-1)
            else:
                s = torch.sigmoid(self.att(h).flatten(2))
                w = s / (s.sum(dim=-1, keepdim=True) + 1e-7)
            out = (af * w).sum(-1)
            return torch.log_softmax(out, dim=-1), w.reshape(shape)

    return AttentionHead


@functools.cache
def _net_class() -> type:
    nn = import_torch().nn

    class Net(nn.Module):
        """A body (``_body``, map dims ``_map_dims``) and an attention head (``head``)."""

        _map_dims: tuple[int, ...] = ()

        def _body(self, x: Any) -> Any:
            raise NotImplementedError

        def features(self, x: Any) -> tuple[Any, Any, Any]:
            """(log_probs, attention, body features averaged over the map [B, C])."""
            h = self._body(x)
            lp, w = self.head(h)
            return lp, w, h.mean(dim=self._map_dims)

        def forward(self, x: Any) -> tuple[Any, Any]:
            return self.head(self._body(x))

    return Net


@functools.cache
def _cnn_class() -> type:
    nn = import_torch().nn
    head = _head_class()

    class CNN(_net_class()):
        """Four 3x3 conv layers (batch norm, ReLU, max-pooling by ``(time_pool, 2)``)."""

        def __init__(self, config: TrainConfig, n_cls: int) -> None:
            super().__init__()
            layers: list[Any] = []
            c_in = 1
            for c, tp in zip(config.widths, config.time_pool):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                           nn.ReLU(), nn.MaxPool2d((tp, 2))]
                c_in = c
            self.body = nn.Sequential(*layers)
            self.drop = nn.Dropout(0.2)
            self.head = head(c_in, 2, n_cls, config.attention)

        _map_dims = (2, 3)

        def _body(self, x: Any) -> Any:
            return self.drop(self.body(x.unsqueeze(1)))

    return CNN


@functools.cache
def _rnn_class() -> type:
    nn = import_torch().nn
    head = _head_class()

    class RNN(_net_class()):
        """Stacked LSTM/GRU layers over time, optionally bidirectional."""

        def __init__(self, config: TrainConfig, n_cls: int) -> None:
            super().__init__()
            cell = nn.LSTM if config.model == "lstm" else nn.GRU
            self.rnns = nn.ModuleList()
            d = config.frontend.n_features
            n_dir = 2 if config.bidirectional else 1
            for u in config.rnn_units:
                self.rnns.append(cell(d, u, batch_first=True,
                                      bidirectional=config.bidirectional))
                d = n_dir * u
            self.drop = nn.Dropout(0.2)
            self.head = head(d, 1, n_cls, config.attention)

        _map_dims = (2,)

        def _body(self, x: Any) -> Any:
            h = x
            for r in self.rnns:
                h, _ = r(h)
            return self.drop(h).transpose(1, 2)

    return RNN


def build_model(config: TrainConfig) -> Any:
    """The torch module for ``config``.

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    torch.nn.Module
        Input ``[batch, frames, n_features]``; outputs ``(log_probs [batch, n_classes],
        attention)``, attention ``[batch, n_classes, t, f]`` for the CNN or
        ``[batch, n_classes, t]`` for the RNNs. ``module.features(x)`` also returns the
        body features averaged over the map, ``[batch, feature_dim(config)]``.
    """
    n_cls = len(LABELS[config.task])
    cls = _cnn_class() if config.model == "cnn" else _rnn_class()
    return cls(config, n_cls)


def feature_dim(config: TrainConfig) -> int:
    """Size of the body features :func:`build_model`'s ``features`` returns."""
    if config.model == "cnn":
        return int(config.widths[-1])
    return int(config.rnn_units[-1]) * (2 if config.bidirectional else 1)


@functools.cache
def _reverse_class() -> type:
    torch = import_torch()

    class _Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, v: Any, weight: float) -> Any:
            ctx.weight = weight
            return v.view_as(v)

        @staticmethod
        def backward(ctx: Any, g: Any) -> tuple[Any, None]:
            return -ctx.weight * g, None

    return _Reverse


def gradient_reversal(x: Any, weight: float) -> Any:
    """Identity forward; backward multiplies the gradient by ``-weight`` (Ganin &
    Lempitsky 2015)."""
    return _reverse_class().apply(x, weight)


def ensemble_module(members: Sequence[Any]) -> Any:
    """One torch module averaging ``members`` (each as :func:`build_model`).

    The log-probabilities are the renormalised mean of the members' log-probabilities (a
    geometric mean of probabilities, as crops are pooled at inference) and the attention
    map is the members' mean, so the module has the same inputs and outputs as one
    member and exports to the same ONNX signature.
    """
    torch = import_torch()

    class Ensemble(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x: Any) -> tuple[Any, Any]:
            outs = [m(x) for m in self.members]
            lp = torch.stack([o[0] for o in outs]).mean(0)
            att = torch.stack([o[1] for o in outs]).mean(0)
            return torch.log_softmax(lp, dim=-1), att

    return Ensemble()
