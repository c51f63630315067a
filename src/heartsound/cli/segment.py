"""``heartsound segment FILE... [--method NAME] [--out DIR]``: S1/S2 and the four states."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import add_method_argument, for_each_file

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s) (any rate/format)")
    add_method_argument(p, fallback=False)
    p.add_argument("--model", metavar="FILE", default=None,
                   help="springer2016 only: a JSON model instead of the shipped one")
    p.add_argument("--out", metavar="DIR", default=".",
                   help="folder for <stem>.tsv and <stem>.png (default: current folder)")
    p.add_argument("--no-plot", "--no-plots", dest="no_plot", action="store_true",
                   help="write only the .tsv")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")


def _summary(f: Any, d: dict[str, Any], tsv: Path, png: Path | None) -> str:
    hr = d["heart_rate_bpm"]
    return (f"{f}: heart rate {'n/a' if hr is None else f'{hr:.0f}'} bpm, "
            f"{d['intervals']['n_cycles']} cycles, {len(d['events'])} sounds -> {tsv}"
            + (f", {png}" if png else ""))


def main(args: argparse.Namespace) -> int:
    """Segment each file; write ``<stem>.tsv`` and ``<stem>.png``; print HR and cycles.

    Returns 0 when every file was segmented, 2 when any failed (the others still run).
    """
    from ..errors import ParameterError
    from ..io import load
    from ..segmentation import segment
    from ..segmentation.plot import save_segmentation_png
    from ..serialize import json_text, tsv_text, write_atomic

    out = Path(args.out)
    kwargs: dict[str, Any] = {}
    if args.model is not None:
        from ..segmentation.springer import METHOD, SpringerSegmenter

        if args.method != METHOD:
            raise ParameterError(f"--model is only used with --method {METHOD}")
        kwargs["model"] = SpringerSegmenter.load(args.model)

    def run(f: Any) -> None:
        rec = load(f)
        seg = segment(rec.y, rec.sr, method=args.method, **kwargs)
        d = seg.to_dict()
        stem = Path(f).stem
        tsv = write_atomic(out / f"{stem}.tsv", tsv_text(d["states"]))
        png = None
        if not args.no_plot:
            png = save_segmentation_png(out / f"{stem}.png", rec.y, rec.sr, seg,
                                        title=f"{stem} ({seg.method})")
        if args.json:
            d.pop("states")
            print(json_text({"file": str(f), "tsv": str(tsv),
                             "png": None if png is None else str(png), **d}), end="")
        else:
            print(_summary(f, d, tsv, png))

    return for_each_file(args.files, run)
