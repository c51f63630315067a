"""Corpus readers, grouped cross-validation splits and dataset downloads.

Each corpus has a module named after it with a ``read(root, ...)`` function that
returns :class:`~heartsound.datasets.base.Record` objects; :func:`read` picks one by
name. Nothing is read or downloaded at import time, and the corpus modules are imported
only when used.

Examples
--------
>>> from heartsound import datasets
>>> records = datasets.read("circor2022", "../shared/data/circor2022")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ParameterError
from .base import Record

__all__ = ["Record", "read", "NAMES", "reader", "find_corpora"]

#: Corpus name -> module implementing ``read(root, ...)``.
_READERS = {
    "physionet2016": "heartsound.datasets.physionet2016",
    "circor2022": "heartsound.datasets.circor2022",
    "pascal2011": "heartsound.datasets.pascal2011",
}
#: Valid corpus names.
NAMES: tuple[str, ...] = tuple(_READERS)


def reader(name: str) -> Any:
    """Return the module of corpus ``name`` (it has ``read`` and, for some, more helpers).

    Raises
    ------
    ParameterError
        ``name`` is not a known corpus; the message lists the valid names.
    """
    try:
        module = _READERS[name]
    except (KeyError, TypeError):
        raise ParameterError(
            f"unknown dataset {name!r}; valid names: {', '.join(NAMES)}") from None
    return importlib.import_module(module)


def read(name: str, root: str | Path, **kwargs: Any) -> list[Record]:
    """Read corpus ``name`` from folder ``root``.

    Parameters
    ----------
    name : str
        ``physionet2016``, ``circor2022`` or ``pascal2011``.
    root : str or Path
        The corpus folder in its official layout (or as in ``../shared/data``).
    **kwargs
        Passed to the corpus reader (``subsets=`` for PhysioNet 2016, ``sets=`` for
        PASCAL 2011).

    Returns
    -------
    list of Record

    Raises
    ------
    ParameterError
        Unknown ``name``.
    DatasetError
        The folder does not have the corpus' layout.
    """
    return reader(name).read(root, **kwargs)


def find_corpora(roots: Iterable[str | Path], names: Sequence[str] = NAMES) -> dict[str, Path]:
    """Corpus folders under ``roots``: each root is a corpus folder itself (named after the
    corpus) or a folder holding corpus folders; for a corpus found under several roots,
    a root named after it wins, otherwise the first.

    Returns
    -------
    dict
        Corpus name (among ``names``) -> folder; empty when none is found.
    """
    out: dict[str, Path] = {}
    for r in roots:
        p = Path(r)
        for name in names:
            if p.name == name:
                out[name] = p
            elif (p / name).is_dir():
                out.setdefault(name, p / name)
    return out
