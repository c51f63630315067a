"""``heartsound calibrate``: fit a site calibration on labelled recordings of a site.

    heartsound calibrate --task abnormal --labels labels.csv [--audio DIR] --out cal.json \
        [--method adapt] [--band-norm]

``labels.csv`` has columns ``file`` (relative to ``--audio``, default the CSV's folder)
and ``label`` (a class of the task). The shipped model scores every file as ``analyze``
does; :func:`heartsound.calibration.fit` fits the calibration; the JSON file it writes is
applied with ``heartsound analyze --calibration cal.json`` (and ``batch``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..calibration.model import METHODS, POSITIVE

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``heartsound calibrate``."""
    p.add_argument("--task", required=True, choices=tuple(POSITIVE), help="task to calibrate")
    p.add_argument("--labels", required=True, type=Path, metavar="CSV",
                   help="CSV with columns 'file' and 'label'")
    p.add_argument("--audio", type=Path, metavar="DIR",
                   help="folder the 'file' paths are relative to (default: the CSV's)")
    p.add_argument("--out", required=True, type=Path, metavar="JSON",
                   help="calibration file to write")
    p.add_argument("--method", choices=METHODS, default="adapt",
                   help="threshold only; Platt or isotonic probability calibration; or "
                        "adapt: Platt on the score plus the recordings' spectral profile "
                        "(default: %(default)s, the best leave-one-database-out)")
    p.add_argument("--band-norm", action="store_true",
                   help="abnormal: first scale each Mel band of the model's input to the "
                        "training recordings' per-band statistics, estimated on the "
                        "labelled recordings (per-band input normalisation; the model is "
                        "run again on the scaled input whenever the calibration is "
                        "applied): +0.008 MAcc leave-one-database-out, -0.002 to -0.016 on "
                        "PASCAL (docs/results/generalisation_calibration.md)")


def main(args: argparse.Namespace) -> int:
    """Score the labelled files, fit, write ``--out`` and print what was fitted."""
    from ..calibration import fit, read_labels, save, scores_of
    from ..calibration.files import normalised_scores_of
    from ..serialize import json_text

    rows = read_labels(args.labels, args.task, args.audio)

    live = sys.stderr.isatty()  # redraw one line on a terminal; one line per file elsewhere

    def tick(i: int, n: int) -> None:
        if live:
            print(f"\rscored {i}/{n}", end="" if i < n else "\n", file=sys.stderr)
        else:
            print(f"scored {i}/{n}", file=sys.stderr)

    files, scale = [f for f, _ in rows], None
    if args.band_norm:
        raw, prof, scale = normalised_scores_of(args.task, files,
                                                with_profiles=args.method == "adapt",
                                                progress=tick)
    else:
        raw, prof = scores_of(args.task, files, with_profiles=args.method == "adapt",
                              progress=tick)
    cal = fit(args.task, raw, [lab for _, lab in rows], method=args.method, profiles=prof,
              input_scale=scale, provenance={"labels": args.labels.name})
    save(cal, args.out)
    d = cal.to_dict()
    print(json_text({"out": str(args.out), "task": d["task"], "method": d["method"],
                     "threshold": d["threshold"],
                     "band_normalised": d["input_scale"] is not None,
                     "provenance": d["provenance"]}), end="")
    return 0
