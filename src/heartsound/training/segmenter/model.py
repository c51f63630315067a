"""The segmenter network: a small fully convolutional 1-D U-Net (after Renna, Oliveira,
Coimbra, IEEE JBHI 23(6), 2019), built with torch on first use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...vocab import N_STATES
from ..runtime import import_torch

__all__ = ["SegmenterNet", "time_multiple"]


def time_multiple(widths: Sequence[int]) -> int:
    """The network's time axis must be a multiple of this (``2 ** pooling levels``)."""
    return 2 ** (len(widths) - 1)


def SegmenterNet(n_features: int, widths: Sequence[int] = (16, 32, 48, 64),
                 dropout: float = 0.1, *, softmax: bool = False) -> Any:
    """Build the 1-D U-Net: ``[batch, time, n_features] -> [batch, time, 4]``.

    ``len(widths) - 1`` encoder levels, each two convolutions (kernel 5, batch norm, ReLU)
    then max-pooling by 2; a bottleneck of two convolutions with dilation 2; a decoder
    mirroring the encoder (transposed convolution by 2, concatenation with the skip
    connection, two convolutions); a 1x1 convolution to 4 logits (probabilities when
    ``softmax``, the exported form). The time axis must be a multiple of
    ``2 ** (len(widths) - 1)`` (:func:`time_multiple`); inference pads to it.
    """
    torch = import_torch()
    nn = torch.nn
    widths = [int(w) for w in widths]

    def block(c_in: int, c_out: int, dilation: int = 1) -> Any:
        return nn.Sequential(
            nn.Conv1d(c_in, c_out, 5, padding=2 * dilation, dilation=dilation),
            nn.BatchNorm1d(c_out), nn.ReLU(),
            nn.Conv1d(c_out, c_out, 5, padding=2 * dilation, dilation=dilation),
            nn.BatchNorm1d(c_out), nn.ReLU())

    class _UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.ModuleList()
            c = n_features
            for w in widths[:-1]:
                self.enc.append(block(c, w))
                c = w
            self.pool = nn.MaxPool1d(2)
            self.mid = block(c, widths[-1], dilation=2)
            self.up = nn.ModuleList()
            self.dec = nn.ModuleList()
            c = widths[-1]
            for w in reversed(widths[:-1]):
                self.up.append(nn.ConvTranspose1d(c, w, 2, stride=2))
                self.dec.append(block(2 * w, w))
                c = w
            self.drop = nn.Dropout(dropout)
            self.head = nn.Conv1d(c, N_STATES, 1)
            self.softmax = softmax

        def forward(self, x: Any) -> Any:
            h = x.transpose(1, 2)
            skips = []
            for enc in self.enc:
                h = enc(h)
                skips.append(h)
                h = self.pool(h)
            h = self.drop(self.mid(h))
            for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
                h = dec(torch.cat([up(h), skip], dim=1))
            z = self.head(self.drop(h)).transpose(1, 2)
            return torch.softmax(z, dim=-1) if self.softmax else z

    return _UNet()
