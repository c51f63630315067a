"""``heartsound segment FILE... [--method springer2016|neural] [--out DIR]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "main"]

_METHODS = ("springer2016", "neural")


# --------------------------------------------------------------------------- segment


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s) (any rate/format)")
    p.add_argument("--method", choices=_METHODS, default="neural",
                   help="segmentation method (default: neural)")
    p.add_argument("--model", metavar="FILE", default=None,
                   help="springer2016 only: a JSON model instead of the shipped one")
    p.add_argument("--out", metavar="DIR", default=".",
                   help="folder for <stem>.tsv and <stem>.png (default: current folder)")
    p.add_argument("--no-plot", action="store_true", help="write only the .tsv")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")


def main(args: argparse.Namespace) -> int:
    """Segment each file; write ``<stem>.tsv`` and ``<stem>.png``; print HR and cycles."""
    from ..io import load
    from ..segmentation import segment
    from ..segmentation.plot import plot_segmentation

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if args.model is not None:
        if args.method != "springer2016":
            from ..errors import ParameterError

            raise ParameterError("--model is only used with --method springer2016")
        from ..segmentation.springer import SpringerSegmenter

        kwargs["model"] = SpringerSegmenter.load(args.model)
    for f in args.files:
        rec = load(f)
        seg = segment(rec.y, rec.sr, method=args.method, **kwargs)
        stem = Path(f).stem
        tsv = out / f"{stem}.tsv"
        seg.to_tsv(tsv)
        png = None
        if not args.no_plot:
            png = out / f"{stem}.png"
            plot_segmentation(rec.y, rec.sr, seg, png, title=f"{stem} ({args.method})")
        iv = seg.intervals()
        if args.json:
            d = {"file": str(f), "tsv": str(tsv), "png": str(png) if png else None}
            d.update(seg.to_dict())
            d.pop("states", None)
            print(json.dumps(d))
        else:
            hr = iv["heart_rate_bpm"] if iv["heart_rate_bpm"] is not None else seg.heart_rate_bpm
            print(f"{f}: heart rate {hr:.0f} bpm, {iv['n_cycles']} cycles, "
                  f"{len(seg.events())} sounds -> {tsv}" + (f", {png}" if png else ""))
    return 0


