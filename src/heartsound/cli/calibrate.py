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
    """Score the labelled files, fit, write ``--out`` and print what was fitted.

    Exit code 0; 1 when some labelled files could not be read (each named on one line,
    left out of the fit and listed in the file's provenance); 2 when nothing was written.
    """
    from ..calibration import fit, read_labels, save, scores_of
    from ..calibration.estimate import cross_validated, own_threshold
    from ..calibration.files import normalised_scores_of
    from ..serialize import json_text

    rows, skipped = readable(read_labels(args.labels, args.task, args.audio))

    live = sys.stderr.isatty()  # redraw one line on a terminal; one line per file elsewhere

    def tick(i: int, n: int) -> None:
        if live:
            print(f"\rscored {i}/{n}", end="" if i < n else "\n", file=sys.stderr)
        else:
            print(f"scored {i}/{n}", file=sys.stderr)

    files, labels, scale = [f for f, _ in rows], [lab for _, lab in rows], None
    if args.band_norm:
        raw, prof, scale = normalised_scores_of(args.task, files,
                                                with_profiles=args.method == "adapt",
                                                progress=tick)
        own_raw, _ = scores_of(args.task, files)  # the uncalibrated model, as analyze runs it
    else:
        raw, prof = scores_of(args.task, files, with_profiles=args.method == "adapt",
                              progress=tick)
        own_raw = raw
    est = cross_validated(args.task, raw, labels, own_threshold(args.task),
                          method=args.method, profiles=prof, own_scores=own_raw)
    cal = fit(args.task, raw, labels, method=args.method, profiles=prof,
              input_scale=scale, provenance={"labels": args.labels.name, "estimate": est,
                                             "skipped": skipped})
    save(cal, args.out)
    print(estimate_text(est, len(labels)), file=sys.stderr)
    d = cal.to_dict()
    print(json_text({"out": str(args.out), "task": d["task"], "method": d["method"],
                     "threshold": d["threshold"],
                     "band_normalised": d["input_scale"] is not None,
                     "provenance": d["provenance"]}), end="")
    return 1 if skipped else 0


def readable(rows: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str]], list[dict]]:
    """The labelled files that can be read, and one ``{"file", "error"}`` per file that
    cannot (each also printed as one line): a bad file costs only itself."""
    from ..errors import HeartsoundError
    from ..io import load

    good, skipped = [], []
    for f, lab in rows:
        try:
            load(f)
        except HeartsoundError as e:
            print(f"heartsound: skipped: {e}", file=sys.stderr)
            skipped.append({"file": str(f), "error": str(e)})
        else:
            good.append((f, lab))
    if skipped:
        print(f"heartsound: {len(skipped)} of {len(rows)} labelled files skipped; "
              f"fitting on {len(good)}", file=sys.stderr)
    return good, skipped


def estimate_text(est: dict, n_files: int) -> str:
    """One paragraph saying what the calibration is expected to do at the site."""
    if not est["available"]:
        return f"no cross-validated estimate: {est['reason']}"
    c, u, iv = est["calibrated"], est["uncalibrated"], est["interval"]

    def ba(d: dict, i: list[float]) -> str:
        return (f"{d['balanced_accuracy']:.2f} ({i[0]:.2f}-{i[1]:.2f}; sensitivity "
                f"{d['sensitivity']:.2f}, specificity {d['specificity']:.2f})")
    diff = c["balanced_accuracy"] - u["balanced_accuracy"]
    lo, hi = iv["difference"]
    verdict = ("calibrating helps at this site" if lo > 0 else
               "calibrating does worse at this site" if hi < 0 else
               "these recordings cannot tell whether calibrating helps")
    return (f"expected at this site, cross-validated over the {est['n']} labelled "
            f"recordings ({est['folds']} folds; 95% intervals):\n"
            f"  balanced accuracy, this calibration:     {ba(c, iv['calibrated'])}\n"
            f"  balanced accuracy, the model's own rule: {ba(u, iv['uncalibrated'])}\n"
            f"  difference {diff:+.2f} ({lo:+.2f} to {hi:+.2f}): {verdict}")
