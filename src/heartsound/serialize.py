"""The one way heartsound turns results into text and files.

Every writer (``<stem>.heartsound.json``, ``.tsv``, the batch ``summary.csv``, the HTML report,
the CLI summaries of ``analyze``, ``segment``, ``classify``, ``info`` and ``quality``)
goes through the functions here, so a value is rounded once, by one rule, and a file is
written one way:

* :func:`to_jsonable`: numpy scalars and arrays, tuples, paths and objects with a
  ``to_dict`` become JSON types; every float is rounded to :data:`DECIMALS` decimals
  (microseconds for times, 1e-6 for probabilities); NaN and infinities become ``None``.
* :func:`tsv_text`: CirCor ``start_s<TAB>end_s<TAB>state`` rows.
* :func:`write_atomic` and :func:`write_atomic_many`: temporary files in the target
  folder, all written before the first is moved into place with :func:`os.replace`, so an
  error never leaves a partial file.
* :func:`png_with_text` / :func:`png_text`: a PNG ``tEXt`` chunk (how heartsound marks
  the figures it writes).
* :func:`display_text`: a file name (or any text) safe to print on one line.

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["DECIMALS", "to_jsonable", "json_text", "tsv_text", "write_atomic", "portable",
           "write_atomic_many", "quality_dict", "png_with_text", "png_text", "display_text",
           "unavailable_text", "computed_for_text"]

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
    t = type(obj)  # the exact JSON types first: most of a result's values
    if t is float:
        return round(obj, DECIMALS) if math.isfinite(obj) else None
    if t is str or t is int or t is bool or obj is None:
        return obj
    if t is dict:
        return {k if type(k) is str else str(k): to_jsonable(v) for k, v in obj.items()}
    if t is list:  # finite floats rounded in place of a call each (long lists of times)
        return [round(v, DECIMALS) if type(v) is float and math.isfinite(v)
                else to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, str)):
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


def portable(value: Any, *, start: str | Path | None = None) -> Any:
    """``value`` with every absolute path in it made relative to ``start`` (default: the
    working directory), for results and run records that are committed or shared: a
    record says ``../shared/data``, not where that folder was on the machine that ran it.

    Strings are paths when absolute (``os.path.isabs``); a string of several words (a
    command line) has each absolute word replaced. A path neither under ``start`` nor in the
    corpora folder beside it (``../shared``) says nothing on another machine: it becomes
    ``<its name>`` (e.g. a scratch checkout ``/scratch/base`` -> ``<base>``). Lists,
    tuples and dicts are walked; anything else is returned as it is.

    Examples
    --------
    >>> portable({"root": ["/data/shared/data"], "n": 3}, start="/data/repo")
    {'root': ['../shared/data'], 'n': 3}
    >>> portable("python bench.py --model /data/repo/m.onnx", start="/data/repo")
    'python bench.py --model m.onnx'
    >>> portable("--base /scratch/base", start="/data/repo")
    '--base <base>'
    """
    base = os.getcwd() if start is None else os.fspath(start)
    if isinstance(value, dict):
        return {k: portable(v, start=base) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable(v, start=base) for v in value)
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str):
        return value
    if " " in value:
        return " ".join(portable(w, start=base) for w in value.split(" "))
    if not os.path.isabs(value):
        return value
    rel = os.path.relpath(value, base)
    parts = rel.split(os.sep)
    outside = parts[0] == os.pardir and parts[:2] != [os.pardir, "shared"]
    return f"<{os.path.basename(value.rstrip(os.sep))}>" if outside else rel


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


def quality_dict(quality: Any, notes: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON of a :class:`heartsound.Quality`: ``usable``, ``score``, ``reasons``,
    ``flags`` and ``measures`` (all SQIs), by the one rounding rule; with ``notes``
    (:attr:`heartsound.Recording.notes`: code -> sentence) also ``notes``."""
    d: dict[str, Any] = {"usable": bool(quality.usable), "score": float(quality.score),
                         "reasons": [str(r) for r in quality.reasons]}
    if getattr(quality, "flags", None) is not None:
        d["flags"] = [str(f) for f in quality.flags]
    if getattr(quality, "measures", None):
        d["measures"] = dict(quality.measures)
    if notes is not None:
        d["notes"] = {str(k): str(v) for k, v in notes.items()}
    return to_jsonable(d)


#: Characters shown as escapes by :func:`display_text` (one line per message): C0 and C1
#: controls, DEL and the Unicode line and paragraph separators.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)]} | {
    10: "\\n", 13: "\\r", 9: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def unavailable_text(c: dict[str, Any]) -> tuple[str, str]:
    """What one task's ``to_dict()`` entry without probabilities says: ``("not
    assessable", why)`` for a recording the classifier was not run on because it holds
    no heart sounds (``"assessable": false``), else ``("unavailable", why)`` (the model
    could not run); ``why`` is the reason without the ``not assessable:`` prefix."""
    reason = str(c.get("reason") or "")
    if c.get("assessable") is False:
        return "not assessable", reason.removeprefix("not assessable: ")
    return "unavailable", reason


def computed_for_text(c: dict[str, Any]) -> str:
    """What a task's ``to_dict()`` entry that was not asked for says about itself
    (``"computed_for": "severity"``: murmur, the decision severity's rule reads), else
    ``""``."""
    return f"not asked: run for {c['computed_for']}" if c.get("computed_for") else ""


def display_text(text: Any, *, one_line: bool = True) -> str:
    """``text`` (e.g. a file name) as printable UTF-8: bytes that are not UTF-8 (file
    names on Linux arrive as lone surrogates) shown as ``\\xNN``; with ``one_line``,
    control characters (a newline in a file name) as escapes too."""
    s = str(text)
    try:
        raw = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that does not stand for a byte
        raw = s.encode("utf-8", "backslashreplace")
    s = raw.decode("utf-8", "backslashreplace")
    return s.translate(_CONTROL) if one_line else s


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_with_text(png: bytes, key: str, value: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``key``: ``value`` (Latin-1) after its header."""
    if not png.startswith(_PNG_MAGIC):
        raise ValueError("not a PNG")
    body = key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")
    chunk = (struct.pack(">I", len(body)) + b"tEXt" + body
             + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF))
    end_ihdr = len(_PNG_MAGIC) + 8 + struct.unpack(">I", png[8:12])[0] + 4
    return png[:end_ihdr] + chunk + png[end_ihdr:]


def png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of ``png`` before its image data, the first of each key (the
    one :func:`png_with_text` puts first; empty when not a PNG)."""
    out: dict[str, str] = {}
    if not png.startswith(_PNG_MAGIC):
        return out
    i = len(_PNG_MAGIC)
    while i + 8 <= len(png):
        n, kind = struct.unpack(">I", png[i:i + 4])[0], png[i + 4:i + 8]
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"tEXt":
            key, _, value = png[i + 8:i + 8 + n].partition(b"\0")
            out.setdefault(key.decode("latin-1"), value.decode("latin-1"))
        i += 12 + n
    return out


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
    return write_atomic_many([(path, data)])[0]


def write_atomic_many(items: Iterable[tuple[str | Path, bytes | str]]) -> list[Path]:
    """Write each ``(path, data)`` atomically, in order: every temporary file (in its
    target's folder) is written before the first :func:`os.replace`, so an error while
    writing (disk full, permissions) leaves no file changed and no temporary file behind.
    Text is UTF-8; a character that cannot be encoded (a lone surrogate of a non-UTF-8
    file name) is written as a ``\\x`` escape.

    Returns
    -------
    list of Path
        The paths, in order.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                       dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _path in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    return [path for _tmp, path in staged]
