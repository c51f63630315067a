"""``heartsound quality``: a signal-quality verdict per file, or the share of each corpus
the check flags (``--evaluate ROOT``)."""

from __future__ import annotations

import argparse
import json

from ..errors import ParameterError
from ._common import for_each_file, say

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="audio file(s) to assess")
    p.add_argument("--evaluate", metavar="ROOT",
                   help="measure the share flagged on the corpora under ROOT (JSON)")
    p.add_argument("--limit", type=int, default=None,
                   help="with --evaluate: first N recordings per corpus")
    p.add_argument("--measures-out", metavar="JSONL",
                   help="with --evaluate: write every recording's measures here")


def main(args: argparse.Namespace) -> int:
    """Print a JSON quality verdict per file (one line each, with the recording's
    ``notes``), or the corpus evaluation.

    Returns 0 when every file was assessed, 2 when any failed (the others still run).
    """
    # imported here: ``heartsound --help`` imports every command module
    from ..evaluation.quality import evaluate
    from ..io import load
    from ..quality import assess
    from ..serialize import json_text, quality_dict

    if args.evaluate:
        print(json.dumps(evaluate(args.evaluate, limit=args.limit,
                                  measures_out=args.measures_out), indent=1))
        return 0
    if args.limit is not None or args.measures_out:
        raise ParameterError("--limit and --measures-out need --evaluate ROOT")
    if not args.files:
        raise ParameterError("give audio files to assess, or --evaluate ROOT")

    def run(f: str) -> None:
        rec = load(f, min_duration_s=0.0)
        say(json_text({"file": rec.source,
                       **quality_dict(assess(rec.y, rec.sr), notes=rec.notes)}), end="")

    return for_each_file(args.files, run)
