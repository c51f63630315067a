"""Corrected segmentations: checking the rows a user edited, turning them into the
result contract's segmentation (events, intervals, heart rate), and comparing a
reference (an existing CirCor ``.tsv``) with the model's.

Rows are CirCor's ``(start_s, end_s, state)``, state 0 unannotated, 1 S1, 2 systole,
3 S2, 4 diastole (:data:`heartsound.vocab.STATE_NAMES`).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.circor2022 import read_tsv
from ..errors import DatasetError, ParameterError
from ..evaluation.detection import match_events
from ..segmentation.result import Segmentation, rows_to_states
from ..serialize import to_jsonable
from ..vocab import FRAME_RATE, SOUNDS, STATE_NAMES

__all__ = ["check_rows", "corrected_result", "compare", "read_reference", "MAX_ROWS",
           "MOVED_S", "TOLERANCE_S"]

#: Most rows a corrected segmentation may have (a 60-min recording has ~20 000).
MAX_ROWS = 100_000
#: Sounds matched within this distance (s) are the same sound (the evaluation default).
TOLERANCE_S = 0.06
#: A matched sound whose onset or offset moved more than this (s) is listed as moved.
MOVED_S = 0.02


def check_rows(rows: Any, duration_s: float) -> list[tuple[float, float, int]]:
    """``rows`` as sorted ``(start_s, end_s, state)`` tuples after checking them.

    Raises
    ------
    ParameterError
        Not a list of 3 numbers each, a state outside 0-4, a row outside
        ``[0, duration_s]`` or with ``end < start``, overlapping rows, or too many rows.
    """
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise ParameterError(f"rows: expected a list of at most {MAX_ROWS} "
                             "[start_s, end_s, state] rows")
    out = []
    for i, r in enumerate(rows):
        try:
            a, b, s = float(r[0]), float(r[1]), r[2]
            ok = len(r) == 3 and isinstance(s, int) and not isinstance(s, bool)
        except (TypeError, ValueError, IndexError, KeyError):
            ok = False
        if not ok or not (math.isfinite(a) and math.isfinite(b)) or s not in STATE_NAMES:
            raise ParameterError(f"rows[{i}]: expected [start_s, end_s, state 0-4], got "
                                 f"{str(r)[:80]}")
        if a < 0 or b < a or b > duration_s + 1e-3:
            raise ParameterError(f"rows[{i}]: [{a}, {b}] s is not inside the "
                                 f"{duration_s:.3f} s recording")
        out.append((a, b, int(s)))
    out.sort()
    for (a0, b0, _), (a1, _b1, _) in zip(out, out[1:]):
        if a1 < b0 - 1e-6:
            raise ParameterError(f"rows overlap at {a1:.3f} s")
    return out


def _segmentation(rows: list[tuple[float, float, int]], duration_s: float, sr: float,
                  method: str) -> Segmentation:
    n = int(round(duration_s * FRAME_RATE))
    states = rows_to_states(rows, FRAME_RATE, n)
    return Segmentation(states=states, frame_rate=FRAME_RATE, method=method,
                        heart_rate_bpm=math.nan, systolic_interval_s=math.nan, sr=sr)


def corrected_result(result: dict[str, Any], rows: list[tuple[float, float, int]]
                     ) -> dict[str, Any]:
    """The result contract ``result`` with its segmentation replaced by ``rows``: states
    (as given, to the microsecond), events, intervals and heart rate recomputed from them
    (on the 50 Hz frame grid), ``segmentation.corrected = true`` and the model's method
    kept as ``segmentation.model_method``."""
    d = copy.deepcopy(result)
    old = d.get("segmentation") or {}
    seg = _segmentation(rows, float(d["duration_s"]), float(d["sr"]), "corrected")
    new = seg.to_dict()
    new.pop("prior_heart_rate_bpm", None)
    new.pop("systolic_interval_s", None)
    new["states"] = [list(r) for r in rows]
    new.update(corrected=True, model_method=old.get("method"),
               requested_method=old.get("requested_method"))
    d["segmentation"] = new
    d["heart_rate_bpm"] = new["heart_rate_bpm"]
    d["n_cycles"] = int(new["intervals"]["n_cycles"] or 0)
    return to_jsonable(d)


def _sounds(rows: list[tuple[float, float, int]]) -> dict[str, list[tuple[float, float]]]:
    return {name: [(a, b) for a, b, s in rows if STATE_NAMES[s] == name] for name in SOUNDS}


def compare(reference: list[tuple[float, float, int]], model: list[tuple[float, float, int]],
            duration_s: float) -> dict[str, Any]:
    """Differences between a reference segmentation and the model's.

    Each S1 and S2 of the reference is matched one-to-one to the model's sound of the same
    kind whose centre lies within :data:`TOLERANCE_S` (:func:`match_events`). Model sounds
    where the reference is unannotated (state 0) are not compared.

    Returns
    -------
    dict
        ``differences``: a list, in time order, of ``{"kind": "missed" | "extra" |
        "moved", "sound", "reference": [on, off] | None, "model": [on, off] | None,
        "shift_s"}`` (missed: in the reference only; extra: in the model only; moved:
        matched but an edge moved more than :data:`MOVED_S`); ``matched`` and
        ``agreement`` (share of the reference's annotated frames with the model's state).
    """
    diffs: list[dict[str, Any]] = []
    matched = 0
    n = int(round(duration_s * FRAME_RATE))
    ref_st, est_st = (rows_to_states(reference, FRAME_RATE, n),
                      rows_to_states(model, FRAME_RATE, n))

    def annotated(a: float, b: float) -> bool:  # the reference covers this sound's centre
        k = int((a + b) / 2 * FRAME_RATE)
        return 0 <= k < n and ref_st[k] != 0

    ref_s = _sounds(reference)
    est_s = {k: [ab for ab in v if annotated(*ab)] for k, v in _sounds(model).items()}
    for name in SOUNDS:
        r, e = ref_s[name], est_s[name]
        pairs, miss, extra = match_events([(a + b) / 2 for a, b in r],
                                          [(a + b) / 2 for a, b in e], TOLERANCE_S)
        matched += len(pairs)
        for i, j in pairs:
            shift = max(abs(r[i][0] - e[j][0]), abs(r[i][1] - e[j][1]))
            if shift > MOVED_S:
                diffs.append({"kind": "moved", "sound": name, "reference": list(r[i]),
                              "model": list(e[j]), "shift_s": shift})
        diffs += [{"kind": "missed", "sound": name, "reference": list(r[i]), "model": None,
                   "shift_s": None} for i in miss]
        diffs += [{"kind": "extra", "sound": name, "reference": None, "model": list(e[j]),
                   "shift_s": None} for j in extra]
    diffs.sort(key=lambda d: (d["reference"] or d["model"])[0])
    keep = ref_st != 0
    agree = float(np.mean(ref_st[keep] == est_st[keep])) if keep.any() else None
    return to_jsonable({"differences": diffs, "matched": matched, "agreement": agree,
                        "tolerance_s": TOLERANCE_S, "moved_s": MOVED_S})


def read_reference(path: Path) -> list[tuple[float, float, int]]:
    """A CirCor ``.tsv`` segmentation file (``start<TAB>end<TAB>state`` lines).

    Raises
    ------
    ParameterError
        The file is malformed or unreadable.
    """
    try:
        rows = read_tsv(path, strict=True)
    except DatasetError as exc:
        raise ParameterError(f"{path.name}: not a CirCor segmentation ({exc})") from None
    if any(s not in STATE_NAMES for _a, _b, s in rows):
        raise ParameterError(f"{path.name}: states must be 0-4")
    return rows
