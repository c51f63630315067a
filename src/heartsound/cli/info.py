"""``heartsound info FILE...``: duration, rate, channels, clipping and a first quality check."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import for_each_file, say

__all__ = ["add_arguments", "main", "info_dict", "format_info"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def info_dict(rec: Any, quality: Any) -> dict[str, Any]:
    """What ``heartsound info`` reports of a :class:`~heartsound.Recording` and its
    :class:`~heartsound.Quality`, by the one rounding rule."""
    from ..serialize import quality_dict, to_jsonable

    meta = rec.meta
    return to_jsonable({
        "file": rec.source, "duration_s": rec.duration_s, "sr": rec.sr,
        "channels": meta["channels"], "format": meta["format"], "subtype": meta["subtype"],
        "n_clipped": meta["n_clipped"], "clipped_share": meta["n_clipped"] / max(1, len(rec.y)),
        "quality": quality_dict(quality, notes=rec.notes)})


def format_info(d: dict[str, Any]) -> str:
    """The text ``heartsound info`` prints for :func:`info_dict`."""
    q = d["quality"]
    why = "; ".join(q["reasons"]) or "no problems found"
    return "\n".join([
        d["file"],
        f"  duration  {d['duration_s']:.2f} s   rate {d['sr']} Hz   channels {d['channels']}"
        f"   {d['format']}/{d['subtype']}",
        f"  clipping  {d['n_clipped']} samples at full scale "
        f"({100 * d['clipped_share']:.2f}%)",
        f"  quality   {'usable' if q['usable'] else 'NOT usable'} (score {q['score']:.2f}): "
        f"{why}",
        *(f"  note      {code}: {text}" for code, text in q.get("notes", {}).items())])


def main(args: argparse.Namespace) -> int:
    """Print duration, sample rate, channels, clipping and a first quality check.

    Returns 0 when every file was read, 2 when any failed (the others still run).
    """
    from ..io import load
    from ..quality import assess
    from ..serialize import json_text

    def run(f: Any) -> None:
        rec = load(f)
        d = info_dict(rec, assess(rec.y, rec.sr))
        say(json_text(d) if args.json else format_info(d), end="" if args.json else "\n")

    return for_each_file(args.files, run)
