"""``heartsound segment FILE... [--method NAME] [--out DIR]``: S1/S2 and the four states.

Writes ``<stem>.heartsound.tsv`` (CirCor ``start<TAB>end<TAB>state`` rows, the same rows
``heartsound analyze`` writes) and ``<stem>.heartsound.png`` (the segmentation figure, drawn with Pillow)
into ``--out`` (default ``heartsound-out/``), never over a file heartsound did not write.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_method_argument, add_out_argument, check_out_dir, for_each_file, \
    say, unique_stems

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="audio file(s) (any rate/format; put '--' before names that "
                        "start with '-')")
    add_method_argument(p, fallback=False)
    p.add_argument("--model", metavar="FILE", default=None,
                   help="springer2016 only: a JSON model instead of the shipped one")
    add_out_argument(p, ("tsv", "png"))
    p.add_argument("--no-plot", "--no-plots", dest="no_plot", action="store_true",
                   help="write only the .tsv")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")


def _summary(f: Any, d: dict[str, Any], written: dict[str, Any], notes: dict[str, str]
             ) -> str:
    hr, n = d["heart_rate_bpm"], d["intervals"]["n_cycles"]
    line = (f"{f}: heart rate {'n/a' if hr is None else f'{hr:.0f} bpm'}, "
            f"{n} cycle{'' if n == 1 else 's'}, {len(d['events'])} sounds -> "
            + ", ".join(str(p) for p in written.values()))
    return "\n".join([line, *(f"  note {code}: {text}" for code, text in notes.items())])


def main(args: argparse.Namespace) -> int:
    """Segment each file; write its ``.heartsound.tsv`` and ``.heartsound.png``; print
    heart rate and cycles.

    Returns 0 when every file was segmented, 2 when any failed (the others still run).
    """
    from ..errors import ParameterError
    from ..io import load
    from ..plotting.scene import short_name
    from ..report import check_replaceable, mark_png, write_named
    from ..segmentation import segment
    from ..segmentation.plot import segmentation_png
    from ..serialize import json_text, tsv_text

    kwargs: dict[str, Any] = {}
    if args.model is not None:
        from ..segmentation.springer import METHOD, SpringerSegmenter

        if args.method != METHOD:
            raise ParameterError(f"--model is only used with --method {METHOD}")
        kwargs["model"] = SpringerSegmenter.load(args.model)
    out = check_out_dir(args.out)
    kinds = ("tsv",) if args.no_plot else ("tsv", "png")
    stems = iter(unique_stems(args.files))  # for_each_file runs each file once, in order

    def run(f: Any) -> None:
        stem = next(stems)
        check_replaceable(out, stem, kinds)
        rec = load(f)
        seg = segment(rec.y, rec.sr, method=args.method, **kwargs)
        d = seg.to_dict()
        blobs: dict[str, bytes | str] = {"tsv": tsv_text(d["states"])}
        if not args.no_plot:
            title = f"{short_name(stem)} ({seg.method})"  # clear of the legend
            blobs["png"] = mark_png(segmentation_png(rec.y, rec.sr, seg, title=title))
        written = write_named(out, stem, blobs)
        if args.json:
            d.pop("states")
            png = written.get("png")
            say(json_text({"file": str(f), "tsv": str(written["tsv"]),
                           "png": None if png is None else str(png), **d,
                           "notes": rec.notes}), end="")
        else:
            say(_summary(f, d, written, rec.notes))

    return for_each_file(args.files, run)
