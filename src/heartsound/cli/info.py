"""``heartsound info FILE...``: duration, rate, channels, clipping and a first quality check."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    """Print duration, sample rate, channels, clipping and a first quality check."""
    import json

    from ..errors import HeartsoundError
    from ..io import load

    status = 0
    for f in args.files:
        try:
            rec = load(f)
            out = {"file": rec.source, "duration_s": round(rec.duration_s, 3), "sr": rec.sr,
                   "channels": rec.meta["channels"], "format": rec.meta["format"],
                   "subtype": rec.meta["subtype"], "n_clipped": rec.meta["n_clipped"],
                   "clipped_share": round(rec.meta["n_clipped"] / max(1, len(rec.y)), 5)}
            try:
                from ..quality import assess
            except ImportError:  # quality module not available in this build
                assess = None
            if assess is not None:
                q = assess(rec.y, rec.sr)
                out["quality"] = {"usable": bool(q.usable), "score": round(float(q.score), 3),
                                  "reasons": list(q.reasons)}
        except HeartsoundError as exc:
            print(f"heartsound: error: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print(json.dumps(out))
        else:
            print(f"{out['file']}")
            print(f"  duration  {out['duration_s']:.2f} s   rate {out['sr']} Hz   "
                  f"channels {out['channels']}   {out['format']}/{out['subtype']}")
            print(f"  clipping  {out['n_clipped']} samples at full scale "
                  f"({100 * out['clipped_share']:.2f}%)")
            if "quality" in out:
                q = out["quality"]
                verdict = "usable" if q["usable"] else "NOT usable"
                why = "; ".join(q["reasons"]) if q["reasons"] else "no problems found"
                print(f"  quality   {verdict} (score {q['score']:.2f}): {why}")
    return status


