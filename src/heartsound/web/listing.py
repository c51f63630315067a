"""Sorting and filtering of the recording list (the query parameters of
``GET /api/recordings``)."""

from __future__ import annotations

from typing import Any

from ..errors import ParameterError

__all__ = ["select", "SORT_KEYS"]

#: Columns the list sorts by; ``label:<task>`` sorts by a task's label too.
SORT_KEYS = ("name", "quality", "heart_rate", "duration")
_FIELD = {"quality": "quality_score", "heart_rate": "heart_rate_bpm", "duration": "duration_s"}


def _flag(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    v = value.lower()
    if v not in ("true", "false", "1", "0", "yes", "no"):
        raise ParameterError(f"{name}: expected true or false, got {value!r}")
    return v in ("true", "1", "yes")


def _label_filters(labels: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in labels:
        task, sep, label = item.partition(":")
        if not sep or not task or not label:
            raise ParameterError(f"label: expected TASK:LABEL (e.g. murmur:Present), got "
                                 f"{item!r}")
        out.append((task, label))
    return out


def _key(sort: str):
    if sort.startswith("label:"):
        task = sort[len("label:"):]
        return lambda r: (r.get("labels", {}).get(task) is None,
                          str(r.get("labels", {}).get(task)))
    if sort not in SORT_KEYS:
        raise ParameterError(f"sort: one of {', '.join(SORT_KEYS)} or label:<task>, got "
                             f"{sort!r}")
    if sort == "name":
        return lambda r: (False, r["name"].lower())
    f = _FIELD[sort]
    return lambda r: (r.get(f) is None, r.get(f) or 0.0)


def select(rows: list[dict[str, Any]], *, sort: str = "name", order: str = "asc",
           q: str | None = None, label: list[str] | None = None,
           uncertain: str | None = None, usable: str | None = None,
           analysed: str | None = None) -> list[dict[str, Any]]:
    """The rows that pass every filter, sorted (rows without the value last).

    Parameters
    ----------
    q : str, optional
        Case-insensitive substring of the name.
    label : list of str, optional
        ``TASK:LABEL`` filters, all required (``murmur:Present``).
    uncertain, usable, analysed : str, optional
        ``true`` or ``false``.

    Raises
    ------
    ParameterError
        An unknown sort key or order, a malformed filter.
    """
    if order not in ("asc", "desc"):
        raise ParameterError(f"order: asc or desc, got {order!r}")
    want = _label_filters(label or [])
    flags = {"uncertain": _flag(uncertain, "uncertain"), "usable": _flag(usable, "usable"),
             "analysed": _flag(analysed, "analysed")}
    out = []
    for r in rows:
        if q and q.lower() not in r["name"].lower():
            continue
        if any(r.get("labels", {}).get(t) != lab for t, lab in want):
            continue
        if any(v is not None and bool(r.get(k)) != v for k, v in flags.items()):
            continue
        out.append(r)
    key = _key(sort)
    known = sorted((r for r in out if not key(r)[0]), key=lambda r: key(r)[1],
                   reverse=order == "desc")
    return known + [r for r in out if key(r)[0]]
