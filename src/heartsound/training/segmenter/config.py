"""Hyper-parameters of a neural segmenter training run, and where its caches go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ParameterError
from ...example import cache_dir
from ..config import BaseTrainConfig, option, ordered_fields, redefault

__all__ = ["TrainConfig", "default_cache_dir"]

#: Key order of the ``config`` metadata of the shipped model.
_METADATA_ORDER = ("widths", "dropout", "window_s", "batch_size", "windows_per_epoch", "lr",
                   "weight_decay", "max_epochs", "patience", "val_fraction", "copies", "seed",
                   "max_minutes")


def default_cache_dir() -> Path:
    """Cache folder for augmented features and fold models (never inside the repository):
    ``segmenter/`` of :func:`heartsound.example.cache_dir`."""
    return cache_dir() / "segmenter"


@dataclass
class TrainConfig(BaseTrainConfig):
    """Hyper-parameters of one segmenter training run (stored in the ONNX metadata and
    model card). The shared fields are those of
    :class:`~heartsound.training.config.BaseTrainConfig`, with this trainer's defaults."""

    batch_size: int = redefault("batch_size", 16)
    lr: float = redefault("lr", 3e-3)
    patience: int = redefault("patience", 6)
    val_fraction: float = redefault("val_fraction", 0.1)
    max_minutes: float = redefault("max_minutes", 5.0)
    widths: tuple[int, ...] = option((16, 24, 32, 48), "U-Net channels per level "
                                     "(the last is the bottleneck)", nargs="+")
    dropout: float = option(0.1, "dropout before the bottleneck and the output layer")
    window_s: float = option(12.0, "length of the training windows (s)")
    windows_per_epoch: int = option(960, "training windows drawn per epoch")
    copies: int = option(4, "augmented copies per recording (plus the clean one)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.windows_per_epoch) < 1:
            raise ParameterError(f"windows_per_epoch must be >= 1, got {self.windows_per_epoch}")
        if self.copies < 0:
            raise ParameterError(f"copies must be >= 0, got {self.copies}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the ``config`` metadata of the exported model)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in ordered_fields(self, _METADATA_ORDER).items()}
