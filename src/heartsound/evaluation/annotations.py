"""Reference annotations as the scores read them: heart sounds as ``(sound, time_s)``
pairs, CirCor state rows, PASCAL annotation gaps.

Events are ``(sound, time_s)`` pairs (:class:`SoundTime`), ``sound`` ``"S1"`` or ``"S2"``,
or a mapping ``{"S1": times, "S2": times}``. Objects with ``.sound`` and ``.centre_s``
attributes (a segmentation's events) are turned into pairs by :func:`as_pairs`; nothing
here imports :mod:`heartsound.segmentation`.

CirCor annotations are ``(start_s, end_s, state)`` rows (state codes of
:mod:`heartsound.vocab`, 0 unannotated); PASCAL 2011 set A annotations are
``(sound, time_s)`` pairs covering part of each recording.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import ParameterError
from ..vocab import S1, SOUND_CODES, SOUNDS, UNANNOTATED

__all__ = ["MAX_GAP_S", "SoundTime", "as_pairs", "rows_sorted", "sound_rows",
           "events_from_rows", "annotated_spans", "reference_heart_rate", "annotation_gaps",
           "in_gap", "unannotated_beats"]

#: Largest gap (s) between two annotation rows still treated as contiguous. The CirCor
#: ``.tsv`` files hold a few dozen gaps or overlaps of 1-25 ms between annotated rows;
#: unannotated stretches are explicit state-0 rows.
MAX_GAP_S = 0.05
_SOUND_OF_STATE = {code: sound for sound, code in SOUND_CODES.items()}
_NAN = float("nan")


class SoundTime(NamedTuple):
    """One heart sound as a ``(sound, time_s)`` pair; ``centre_s`` is an alias of
    ``time_s`` so that it reads like a segmentation's event."""

    sound: str
    time_s: float

    @property
    def centre_s(self) -> float:
        return self.time_s


def as_pairs(events: Iterable[Any] | Mapping[str, Any], name: str = "events"
             ) -> list[SoundTime]:
    """Normalise events to ``(sound, time_s)`` pairs.

    Parameters
    ----------
    events : iterable or mapping
        ``(sound, time_s)`` pairs; objects with ``.sound`` and ``.centre_s`` (e.g.
        ``Segmentation.events()``, whose centre is the compared instant); or a mapping
        ``{"S1": array_like [shape=(n1,)], "S2": array_like [shape=(n2,)]}`` of times (s).
    name : str
        Used in error messages.

    Returns
    -------
    list of SoundTime
        In input order (a mapping: all S1, then all S2).

    Raises
    ------
    ParameterError
        An unknown sound, a time that is not a finite number, or an item of another shape.
    """
    if isinstance(events, Mapping):
        events = [(s, t) for s, times in events.items() for t in np.ravel(times)]
    out = []
    for e in events:
        if hasattr(e, "sound") and hasattr(e, "centre_s"):
            sound, t = e.sound, e.centre_s
        else:
            try:
                sound, t = e
            except (TypeError, ValueError):
                raise ParameterError(
                    f"{name}: expected (sound, time_s) pairs or events with .sound and "
                    f".centre_s, got {e!r}") from None
        if sound not in SOUNDS:
            raise ParameterError(f"{name}: unknown sound {sound!r}; valid: {', '.join(SOUNDS)}")
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise ParameterError(f"{name}: time {t!r} of {sound} is not a number") from None
        if not math.isfinite(t):
            raise ParameterError(f"{name}: time of {sound} is not finite")
        out.append(SoundTime(sound, t))
    return out


# --------------------------------------------------------------------------- CirCor rows


def rows_sorted(rows: Iterable[Any]) -> list[tuple[float, float, int]]:
    """``(start_s, end_s, state)`` rows as floats and ints, sorted by start, zero-length
    rows dropped.

    Raises
    ------
    ParameterError
        A row that is not three numbers.
    """
    out = []
    for r in rows:
        try:
            a, b, s = r
            out.append((float(a), float(b), int(s)))
        except (TypeError, ValueError):
            raise ParameterError(f"expected (start_s, end_s, state) rows, got {r!r}") from None
    out.sort(key=lambda r: r[0])
    return [r for r in out if r[1] > r[0]]  # zero-length rows carry no information


def sound_rows(rows: list[tuple[float, float, int]]) -> list[tuple[SoundTime, bool]]:
    """Every S1/S2 row as a pair at its centre, flagged True when both neighbours are
    annotated (non-zero state, within ``MAX_GAP_S``) so the whole sound is inside the
    annotation."""
    out = []
    for k, (a, b, s) in enumerate(rows):
        if s not in _SOUND_OF_STATE:
            continue
        prev_ok = (k > 0 and rows[k - 1][2] != UNANNOTATED
                   and abs(a - rows[k - 1][1]) <= MAX_GAP_S)
        next_ok = (k + 1 < len(rows) and rows[k + 1][2] != UNANNOTATED
                   and abs(rows[k + 1][0] - b) <= MAX_GAP_S)
        out.append((SoundTime(_SOUND_OF_STATE[s], 0.5 * (a + b)), prev_ok and next_ok))
    return out


def events_from_rows(rows: Iterable[Any]) -> list[SoundTime]:
    """S1/S2 reference sounds from CirCor-style ``(start_s, end_s, state)`` rows.

    A sound is kept only when the rows just before and after it are annotated (state
    1-4, at most 50 ms away): sounds touching a state-0 stretch or the recording's edges
    may be cut, so their centres are unreliable. Zero-length rows are ignored.

    Returns
    -------
    list of SoundTime
        ``(sound, centre_s)`` pairs in time order.
    """
    return [e for e, ok in sound_rows(rows_sorted(rows)) if ok]


def annotated_spans(rows: Iterable[Any]) -> list[tuple[float, float]]:
    """Intervals ``(start_s, end_s)`` covered by non-zero annotation rows, neighbouring
    rows less than 50 ms apart merged into one interval."""
    spans: list[list[float]] = []
    for a, b, s in rows_sorted(rows):
        if s == UNANNOTATED:
            continue
        if spans and a - spans[-1][1] <= MAX_GAP_S:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [(a, b) for a, b in spans]


# ------------------------------------------------------------------ PASCAL gaps, heart rate


def annotation_gaps(ref: Sequence[tuple[str, float]], tolerance_s: float
                    ) -> list[tuple[float, float]]:
    """Stretches ``(start_s, end_s)`` between consecutive annotated sounds longer than
    0.85 cycles, shrunk by ``tolerance_s`` at both ends (see :func:`unannotated_beats`);
    empty with fewer than 3 sounds or 2 S1."""
    t = np.sort(np.array([x[1] for x in ref], dtype=float))
    s1 = np.sort(np.array([x[1] for x in ref if x[0] == "S1"], dtype=float))
    if t.size < 3 or s1.size < 2:
        return []
    cycle = float(np.median(np.diff(s1)))
    return [(float(t[i] + tolerance_s), float(t[i + 1] - tolerance_s))
            for i in np.flatnonzero(np.diff(t) > 0.85 * cycle)]


def in_gap(t: float, gaps: Sequence[tuple[float, float]]) -> bool:
    """Whether time ``t`` (s) lies strictly inside one of ``gaps``."""
    return any(a < t < b for a, b in gaps)


def unannotated_beats(ref: Sequence[tuple[str, float]], est_events: Iterable[Any],
                      tolerance_s: float) -> dict[str, Any]:
    """Estimated sounds inside the annotated span that fall in an annotation gap.

    A gap is a stretch between consecutive annotated sounds (of either kind) longer than
    0.85 times the recording's cycle, the median interval between consecutive annotated
    S1. Systole and diastole are both shorter than that, so such a stretch means the
    annotator skipped at least one sound. Estimates inside a gap (more than
    ``tolerance_s`` from its ends) count as false positives although they may be real
    sounds.

    Parameters
    ----------
    ref : sequence of (sound, time_s)
        The annotation.
    est_events : iterable
        Estimated sounds (anything :func:`~heartsound.evaluation.metrics.as_pairs` takes).
    tolerance_s : float

    Returns
    -------
    dict
        ``gaps`` (list of ``(start_s, end_s)``) and ``n_in_gaps`` (estimated sounds in them).
    """
    gaps = annotation_gaps(ref, tolerance_s)
    n = sum(1 for e in as_pairs(est_events, "est_events") if in_gap(e.time_s, gaps))
    return {"gaps": gaps, "n_in_gaps": int(n)}


def reference_heart_rate(rows: Sequence[tuple[float, float, int]]) -> float:
    """Heart rate (bpm) of a CirCor annotation: 60 / median interval between consecutive
    S1 onsets with no unannotated (state 0) row between them; NaN without such a pair."""
    rr: list[float] = []
    last = None
    for a, b, st in rows:
        if st == UNANNOTATED:
            last = None
        elif st == S1 and b > a:
            if last is not None:
                rr.append(a - last)
            last = a
    return float(60.0 / np.median(rr)) if rr else _NAN
