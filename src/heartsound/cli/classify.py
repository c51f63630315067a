"""``heartsound classify FILE... [--task T|all]``."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_arguments", "main"]

_TASKS = ("abnormal", "murmur", "severity")


# ----------------------------------------------------------------------------- classify

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    p.add_argument("--task", choices=_TASKS + ("all",), default="abnormal",
                   help="classification task (default abnormal; 'all' runs the three)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    """Classify each file with the shipped model(s)."""
    from ..errors import HeartsoundError
    from ..io import load
    from ..classification.inference import TASKS, classify

    tasks = TASKS if args.task == "all" else (args.task,)
    status = 0
    for f in args.files:
        try:
            rec = load(f)
            res = {t: classify(rec.y, rec.sr, task=t) for t in tasks}
        except HeartsoundError as exc:
            if len(args.files) == 1:
                raise
            print(f"heartsound: error: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            out = {"file": str(f)}
            out.update({t: r.to_dict() for t, r in res.items()})
            print(json.dumps(out))
        else:
            for t, r in res.items():
                probs = ", ".join(f"{k} {v:.3f}" for k, v in r.probabilities.items())
                print(f"{f}\t{t}\t{r.label}\t({probs})")
    return status


