"""Hyper-parameters shared by the trainers, and command-line options made from them.

Every trainer's configuration is a dataclass derived from :class:`BaseTrainConfig`; each
field declared with :func:`option` carries its command-line help (and choices, flag
name) in its metadata, so :func:`add_config_arguments` builds the options with the
dataclass defaults and :func:`config_kwargs` reads them back: a default or a choice is
written once, in the dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError

__all__ = ["BaseTrainConfig", "option", "redefault", "add_config_arguments", "config_kwargs",
           "ordered_fields"]


def option(default: Any, help: str, *, flag: str | None = None,
           choices: Sequence[Any] | None = None, negate: str | None = None,
           none_flag: tuple[str, str] | None = None, nargs: str | int | None = None) -> Any:
    """A dataclass field with command-line metadata.

    Parameters
    ----------
    default : Any
        The default (tuples are immutable, so they are safe defaults).
    help : str
        Help text; ``argparse`` appends nothing, so say the unit.
    flag : str, optional
        Option name when it is not ``--`` + the field name with ``-`` for ``_``.
    choices : sequence, optional
        Valid values (``None`` may be among them and is left out of the option).
    negate : str, optional
        For a bool that defaults to True: a ``store_false`` flag (``--no-augment``).
    none_flag : (str, str), optional
        A flag that sets the field to None and its help (``--no-attention``).
    nargs : int or str, optional
        For tuples: how many values (default ``len(default)``).
    """
    meta = {"help": help, "flag": flag, "choices": choices, "negate": negate,
            "none_flag": none_flag, "nargs": nargs}
    return dataclasses.field(default=default, metadata={"cli": meta})


@dataclass
class BaseTrainConfig:
    """The hyper-parameters every trainer has: optimiser, epochs, early stopping, time cap,
    inner validation split and seed. Subclasses change defaults by redeclaring a field."""

    batch_size: int = option(32, "examples per optimiser step")
    lr: float = option(1e-3, "learning rate")
    weight_decay: float = option(1e-4, "weight decay of the optimiser")
    max_epochs: int = option(30, "maximum epochs", flag="--epochs")
    patience: int = option(5, "early-stopping patience in epochs")
    val_fraction: float = option(0.15, "share of training patients held out for early "
                                 "stopping (whole patients)")
    seed: int = option(0, "seed of the split, initialisation, sampling and augmentation")
    max_minutes: float = option(6.0, "stop a training run after this many minutes "
                                "(checked after each epoch)")

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 0.5:
            raise ParameterError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")


def _cli_fields(cls: type, only: Iterable[str] | None) -> list[dataclasses.Field]:
    keep = None if only is None else set(only)
    return [f for f in dataclasses.fields(cls) if "cli" in f.metadata
            and (keep is None or f.name in keep)]


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *,
                         only: Iterable[str] | None = None,
                         defaults: Mapping[str, Any] | None = None) -> None:
    """Add one option per :func:`option` field of dataclass ``cls`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    cls : type
        A dataclass (e.g. a :class:`BaseTrainConfig` subclass).
    only : iterable of str, optional
        Field names to expose (default all with command-line metadata).
    defaults : mapping, optional
        Other defaults for this command (field name -> value).
    """
    defaults = dict(defaults or {})
    for f in _cli_fields(cls, only):
        m = f.metadata["cli"]
        default = defaults.get(f.name, f.default)
        flag = m["flag"] or "--" + f.name.replace("_", "-")
        helptext = m["help"].replace("%", "%%")
        if m["negate"]:
            parser.add_argument(m["negate"], dest=f.name, action="store_false",
                                default=default, help=helptext)
            continue
        if m["none_flag"]:
            parser.add_argument(m["none_flag"][0], dest=f"{f.name}__none", action="store_true",
                                help=m["none_flag"][1])
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action="store_true", default=default,
                                help=helptext)
            continue
        kw: dict[str, Any] = {"dest": f.name, "default": default,
                              "metavar": flag.lstrip("-").replace("-", "_").upper()}
        choices = [c for c in (m["choices"] or ()) if c is not None]
        if choices:
            kw.update(choices=choices, metavar=None)
        if isinstance(default, tuple):
            kw.update(type=type(default[0]), nargs=m["nargs"] or len(default))
        elif default is not None:
            kw["type"] = type(default)
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(flag, help=f"{helptext} (default {shown})", **kw)


def config_kwargs(args: argparse.Namespace, cls: type, *,
                  only: Iterable[str] | None = None) -> dict[str, Any]:
    """Constructor keywords of ``cls`` from options made by :func:`add_config_arguments`
    (tuples stay tuples; a ``none_flag`` given sets its field to None)."""
    out: dict[str, Any] = {}
    for f in _cli_fields(cls, only):
        if not hasattr(args, f.name):
            continue
        v = getattr(args, f.name)
        out[f.name] = tuple(v) if isinstance(v, list) else v
        if getattr(args, f"{f.name}__none", False):
            out[f.name] = None
    return out


def redefault(name: str, default: Any) -> Any:
    """A :class:`BaseTrainConfig` field redeclared with another default (same help)."""
    base = BaseTrainConfig.__dataclass_fields__[name]
    return dataclasses.field(default=default, metadata=base.metadata)


def ordered_fields(cfg: Any, order: Sequence[str]) -> dict[str, Any]:
    """``{name: value}`` of dataclass ``cfg`` with the names in ``order`` first (the key
    order of model metadata written before the shared base existed, so a retrained model
    is byte-identical), then any other field in declaration order."""
    names = [f.name for f in dataclasses.fields(cfg)]
    rank = {n: i for i, n in enumerate(order)}
    return {n: getattr(cfg, n) for n in sorted(names, key=lambda n: rank.get(n, len(rank)))}
