"""``heartsound analyze``: analyse recordings into JSON, TSV, PNG and HTML reports.

Outputs go to ``--out`` (default ``heartsound-out/``) as ``<stem>.heartsound.<kind>``; a
file heartsound did not write is never replaced (:mod:`heartsound.report`), and files
with the same stem get distinct names (:func:`~heartsound.cli._common.unique_stems`).

The pipeline (numpy, scipy, onnxruntime) is imported when the command runs and matplotlib
only when a figure is drawn. torch is never imported.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..classification.decision import summary_lines
from ..report import OUTPUT_KINDS
from ..serialize import computed_for_text, unavailable_text
from ._common import (add_method_argument, add_out_argument, add_tasks_argument,
                      check_out_dir, for_each_file, parse_tasks, say, unique_stems)

__all__ = ["add_arguments", "main", "format_summary"]


def _common(p: argparse.ArgumentParser) -> None:
    """The options ``analyze`` and ``batch`` share."""
    add_method_argument(p)
    add_tasks_argument(p)
    p.add_argument("--calibration", action="append", type=Path, metavar="FILE",
                   help="site calibration from `heartsound calibrate` (once per task)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``heartsound analyze``."""
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="audio file(s) to analyse (put '--' before names that start with "
                        "'-')")
    p.add_argument("--example", action="store_true",
                   help="analyse the example recording (a synthetic 10 s PCG with a systolic "
                        "murmur and known S1/S2, built on first use)")
    add_out_argument(p, OUTPUT_KINDS)
    p.add_argument("--json", action="store_true",
                   help="print the JSON result to stdout (one line per file) instead of "
                        "the summary")
    p.add_argument("--html", action="store_true",
                   help="also write a self-contained <stem>.heartsound.html report")
    p.add_argument("--no-plots", action="store_true",
                   help="do not draw <stem>.heartsound.png")
    _common(p)


def format_summary(d: dict[str, Any], written: dict[str, Path] | None = None) -> str:
    """A short human summary of ``Analysis.to_dict()``."""
    q = d["quality"]
    seg = d["segmentation"]
    lines = [f"{d['source']}: {d['duration_s']:.1f} s at {d['sr']} Hz"]
    verdict = "usable" if q["usable"] else "NOT usable"
    why = "; ".join(q["reasons"])
    lines.append(f"  quality      {verdict} (score {q['score']:.2f})" + (f": {why}" if why else ""))
    hr = d["heart_rate_bpm"]
    method = seg.get("method") or "unavailable"
    caveat = "  [uncertain: poor quality]" if hr is not None and not q["usable"] else ""
    n = d["n_cycles"]
    lines.append(f"  heart rate   {'n/a' if hr is None else f'{hr:.0f} bpm'}, "
                 f"{n} cycle{'' if n == 1 else 's'} (segmentation: {method}){caveat}")
    if seg.get("note"):
        lines.append(f"               {seg['note']}")
    presence = (seg.get("presence") or {}).get("reason")
    if presence:
        lines.append(f"               {presence}")
    for code, note in q.get("notes", {}).items():
        lines.append(f"  note         {code}: {note}")
    ty = d.get("typicality")
    if ty:
        verdict = "ATYPICAL of the training data" if ty["atypical"] else "typical"
        lines.append(f"  typicality   {verdict} (score {ty['score']:.2f}, flagged from "
                     f"{ty['threshold']:.2f}; "
                     f"nearest training site {ty['nearest_site']})")
    for task, c in d["classification"].items():
        if not c.get("available", True):
            word, why = unavailable_text(c)
            if why and why == presence:  # printed in full under the heart rate
                why = f"{why.split(':', 1)[0]}, see above"
            lines.append(f"  {task:<12} {word} ({why})")
            continue
        probs = "  ".join(f"{k} {v:.2f}" for k, v in c["probabilities"].items())
        flag = "  [uncertain: poor quality]" if c.get("uncertain") else ""
        flag += f"  [{computed_for_text(c)}]" if c.get("computed_for") else ""
        label = "not assessable" if c["label"] is None else c["label"]
        lines.append(f"  {task:<12} {label:<16} {probs}{flag}")
        lines += [f"{'':15}{ln}" for ln in summary_lines(c)]
    if written:
        names = ", ".join(p.name for p in written.values())
        lines.append(f"  wrote        {names} in {next(iter(written.values())).parent}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Analyse each file; print a summary (or JSON) and write the outputs.

    Returns 0 when every file was analysed, 2 when any failed (each failure is reported
    on stderr as one ``heartsound: error: <file>: <problem>`` line; the other files still
    run).
    """
    from ..errors import ParameterError
    from ..example import example_path
    from ..pipeline import analyze
    from ..report import check_replaceable, output_kinds, write_outputs
    from ..serialize import json_text

    files: list[Any] = list(args.files)
    if getattr(args, "example", False):
        files.insert(0, example_path())
    if not files:
        raise ParameterError("analyze: give at least one FILE, or --example")
    tasks = parse_tasks(args)
    out = check_out_dir(args.out)
    png, html = not getattr(args, "no_plots", False), getattr(args, "html", False)
    kinds = output_kinds(png=png, html=html)
    stems = iter(unique_stems(files))  # for_each_file runs each file once, in order

    def run(f: Any) -> None:
        stem = next(stems)
        check_replaceable(out, stem, kinds)  # before the analysis, not after it
        a = analyze(f, method=args.method, tasks=tasks, calibration=args.calibration)
        d = a.to_dict()
        written = write_outputs(a, out, stem, png=png, html=html, data=d)
        say(json_text(d) if args.json else format_summary(d, written),
            end="" if args.json else "\n")

    return for_each_file(files, run)
