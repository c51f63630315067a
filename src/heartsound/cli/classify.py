"""``heartsound classify FILE... [--tasks a,b|all]``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_tasks_argument, for_each_file, parse_tasks, say

__all__ = ["add_arguments", "main"]

#: Task of ``heartsound classify`` when none is given.
DEFAULT_TASK = "abnormal"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    add_tasks_argument(p, default=(DEFAULT_TASK,))
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    """Classify each file with the shipped model(s); one JSON object per file with
    ``--json`` (``file``, one entry per task and ``notes``), else one line per task and
    one ``<file><TAB>note<TAB><code>: <text>`` line per note of the recording.

    Returns 0 when every file was classified, 2 when any failed (the others still run).
    """
    from ..classification.inference import classify
    from ..io import load
    from ..serialize import json_text, to_jsonable

    tasks = parse_tasks(args)

    def run(f: Any) -> None:
        rec = load(f)
        res = {t: to_jsonable(classify(rec.y, rec.sr, task=t)) for t in tasks}
        if args.json:
            say(json_text({"file": str(f), **res, "notes": rec.notes}), end="")
            return
        for t, r in res.items():
            probs = ", ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
            say(f"{f}\t{t}\t{r['label']}\t({probs})")
        for code, text in rec.notes.items():
            say(f"{f}\tnote\t{code}: {text}")

    return for_each_file(args.files, run)
