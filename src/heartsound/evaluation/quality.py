"""How often the signal-quality check flags the recordings of each corpus.

:func:`evaluate` runs :func:`heartsound.quality.assess` on every recording of the corpora
under a folder and counts, per corpus and group, the recordings flagged unusable and why.
``heartsound quality --evaluate ROOT`` prints it; ``docs/results/quality.md`` holds the
figures the thresholds (:data:`heartsound.quality.THRESHOLDS`) were chosen on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

from .. import datasets
from ..errors import HeartsoundError
from ..io import load
from ..quality import THRESHOLDS, assess

__all__ = ["CORPORA", "corpus_records", "evaluate"]

#: The corpora looked for under the root folder, in reporting order.
CORPORA: tuple[str, ...] = ("pascal2011", "physionet2016", "circor2022")


class QualityRecord(NamedTuple):
    """One recording to assess: its corpus, reporting group, audio file and label."""

    corpus: str
    group: str
    audio_path: Path
    label: str


def _group(r: datasets.Record) -> str:
    """PASCAL ``set<A|B>:<label>``, PhysioNet ``training-<x>``, CirCor ``murmur:<label>``."""
    if r.corpus == "pascal2011":
        return f"set{r.labels.get('set')}:{r.label}"
    if r.corpus == "physionet2016":
        return str(r.labels.get("subset"))
    return f"murmur:{r.label}"


def corpus_records(root: str | Path, *, limit: int | None = None) -> list[QualityRecord]:
    """Every recording of the corpora (:data:`CORPORA`) found under ``root``.

    Parameters
    ----------
    root : str or Path
        Folder holding ``pascal2011``, ``physionet2016`` and/or ``circor2022``.
    limit : int, optional
        Only the first ``limit`` recordings of each corpus.

    Returns
    -------
    list of QualityRecord
    """
    out: list[QualityRecord] = []
    for name in CORPORA:
        if (Path(root) / name).is_dir():
            recs = datasets.read(name, Path(root) / name)
            out += [QualityRecord(name, _group(r), r.audio_path, str(r.label))
                    for r in recs[:limit]]
    return out


def _tally(res: dict[str, Any], rec: QualityRecord, flagged: bool,
           reasons: Sequence[str]) -> None:
    for g in (rec.group, "all"):
        d = res.setdefault(rec.corpus, {}).setdefault(g, {"n": 0, "flagged": 0, "reasons": {}})
        d["n"] += 1
        d["flagged"] += int(flagged)
        for why in reasons:
            d["reasons"][why] = d["reasons"].get(why, 0) + 1


def _assess_one(rec: QualityRecord, fh: IO[str] | None) -> tuple[bool, list[str]]:
    """Flag and flag names of one recording (``["unreadable"]`` when it cannot be read);
    its row is written to ``fh`` when given."""
    try:
        a = load(rec.audio_path, min_duration_s=0.0)
        q = assess(a.y, a.sr)
    except HeartsoundError as exc:
        flagged, reasons = True, ["unreadable"]
        row = {"usable": False, "flags": reasons, "reasons": [str(exc)]}
    else:
        flagged, reasons = not q.usable, list(q.flags)
        row = q.to_dict()
    if fh is not None:
        head = {"corpus": rec.corpus, "group": rec.group, "file": Path(rec.audio_path).name,
                "label": rec.label}
        fh.write(json.dumps({**head, **row}) + "\n")
    return flagged, reasons


def evaluate(root: str | Path, *, limit: int | None = None,
             measures_out: str | Path | None = None) -> dict[str, Any]:
    """Share of recordings flagged unusable, per corpus and group.

    Parameters
    ----------
    root : str or Path
        Folder holding ``pascal2011``, ``physionet2016`` and/or ``circor2022``.
    limit : int, optional
        Only the first ``limit`` recordings of each corpus (for a quick look).
    measures_out : str or Path, optional
        Write every recording's measures and verdict there as JSON lines.

    Returns
    -------
    dict
        ``{corpus: {group: {"n", "flagged", "share_flagged", "reasons": {reason: n}}}}``,
        groups PASCAL ``set<A|B>:<label>``, PhysioNet ``training-<x>``, CirCor
        ``murmur:<label>``, plus ``"all"`` per corpus, and ``thresholds``.
    """
    res: dict[str, Any] = {}
    fh = open(measures_out, "w") if measures_out else None
    try:
        for rec in corpus_records(root, limit=limit):
            _tally(res, rec, *_assess_one(rec, fh))
    finally:
        if fh is not None:
            fh.close()
    for groups in res.values():
        for d in groups.values():
            d["share_flagged"] = round(d["flagged"] / d["n"], 4) if d["n"] else None
    res["thresholds"] = dict(THRESHOLDS)
    return res
