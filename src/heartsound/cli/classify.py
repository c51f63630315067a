"""``heartsound classify FILE... [--tasks a,b|all]`` (default: all tasks)."""

from __future__ import annotations

import argparse
from typing import Any

from ..classification.tasks import TASKS
from ._common import add_tasks_argument, for_each_file, parse_tasks, say

__all__ = ["add_arguments", "main"]

#: Tasks of ``heartsound classify`` when none are given: all (severity is graded only
#: for a murmur, so it needs the murmur decision anyway).
DEFAULT_TASKS = TASKS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    add_tasks_argument(p, default=DEFAULT_TASKS)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    """Classify each file with the shipped model(s); one JSON object per file with
    ``--json`` (``file``, one entry per task and ``notes``), else one line per task and
    one ``<file><TAB>note<TAB><code>: <text>`` line per note of the recording.

    Returns 0 when every file was classified, 2 when any failed (the others still run).
    """
    from ..classification.decision import summary_lines
    from ..io import load
    from ..pipeline import classify_tasks
    from ..serialize import json_text, to_jsonable

    tasks = parse_tasks(args)

    def run(f: Any) -> None:
        rec = load(f)
        out = classify_tasks(rec.y, rec.sr, tasks, evidence=False)
        for r in out.values():
            if isinstance(r, Exception):
                raise r
        res = {t: to_jsonable(r) for t, r in out.items()}
        if args.json:
            say(json_text({"file": str(f), **res, "notes": rec.notes}), end="")
            return
        for t, r in res.items():
            probs = ", ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
            label = "not_assessable" if r["label"] is None else r["label"]
            say(f"{f}\t{t}\t{label}\t({probs})")
            for line in summary_lines(r):
                say(f"\t{line}")
        for code, text in rec.notes.items():
            say(f"{f}\tnote\t{code}: {text}")

    return for_each_file(args.files, run)
