"""The one way heartsound turns results into text and files.

Every writer (``<stem>.json``, ``<stem>.tsv``, the batch ``summary.csv``, the HTML report,
the CLI summaries of ``analyze``, ``segment``, ``classify``, ``info`` and ``quality``)
goes through the functions here, so a value is rounded once, by one rule, and a file is
written one way:

* :func:`to_jsonable`: numpy scalars and arrays, tuples, paths and objects with a
  ``to_dict`` become JSON types; every float is rounded to :data:`DECIMALS` decimals
  (microseconds for times, 1e-6 for probabilities); NaN and infinities become ``None``.
* :func:`tsv_text`: CirCor ``start_s<TAB>end_s<TAB>state`` rows.
* :func:`write_atomic`: a temporary file in the target folder moved into place with
  :func:`os.replace`, so an error never leaves a partial file.

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["DECIMALS", "to_jsonable", "json_text", "tsv_text", "write_atomic",
           "quality_dict"]

#: Decimals kept for every float in a serialised result.
DECIMALS = 6


def to_jsonable(obj: Any) -> Any:
    """``obj`` as JSON types, every float rounded to :data:`DECIMALS` decimals.

    Parameters
    ----------
    obj : Any
        Nested dicts, lists and tuples of numbers, strings, ``None``, numpy scalars and
        arrays, paths, or objects with a ``to_dict()`` method.

    Returns
    -------
    Any
        Dicts (keys as ``str``), lists, ``str``, ``int``, ``float``, ``bool`` or ``None``;
        non-finite floats become ``None``; anything else its ``str``.
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return round(float(obj), DECIMALS) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    tolist = getattr(obj, "tolist", None)  # numpy scalar or array
    if tolist is not None:
        return to_jsonable(tolist())
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)


def json_text(obj: Any, *, indent: int | None = None) -> str:
    """``obj`` (a dict, or anything with ``to_dict()``) as strict JSON text (no NaN) and a
    final newline, through :func:`to_jsonable`."""
    d = obj if isinstance(obj, dict) else obj.to_dict()
    return json.dumps(to_jsonable(d), indent=indent, allow_nan=False) + "\n"


def tsv_text(rows: Iterable[tuple[float, float, int]]) -> str:
    """CirCor-style ``start_s<TAB>end_s<TAB>state`` lines (seconds to the microsecond).

    Parameters
    ----------
    rows : iterable of (start_s, end_s, state)
        As :meth:`heartsound.Segmentation.rows` gives them.
    """
    return "".join(f"{a:.{DECIMALS}f}\t{b:.{DECIMALS}f}\t{int(s)}\n" for a, b, s in rows)


def quality_dict(quality: Any) -> dict[str, Any]:
    """The JSON of a :class:`heartsound.Quality`: ``usable``, ``score``, ``reasons``,
    ``flags`` and ``measures`` (all SQIs), by the one rounding rule."""
    d: dict[str, Any] = {"usable": bool(quality.usable), "score": float(quality.score),
                         "reasons": [str(r) for r in quality.reasons]}
    if getattr(quality, "flags", None) is not None:
        d["flags"] = [str(f) for f in quality.flags]
    if getattr(quality, "measures", None):
        d["measures"] = dict(quality.measures)
    return to_jsonable(d)


_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace`; on any error the temporary file is removed and ``path`` untouched.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
