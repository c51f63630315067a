"""``python -m heartsound.training.segmenter {cv,compare} ...``: the neural segmenter's
cross-validation runs (see :mod:`heartsound.training.segmenter.cv`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from .cv import compare_cv, cross_validate

_METHODS = ("neural", "springer2016")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m heartsound.training.segmenter",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    cv = sub.add_parser("cv", help="train one network per CirCor fold (fold<i>.onnx)")
    cv.add_argument("root", help="the CirCor 2022 folder")
    cv.add_argument("fold_dir", help="folder for the fold models")
    cmp_ = sub.add_parser("compare", help="score the fold models and springer2016 on the "
                          "same folds, clean and in white noise")
    cmp_.add_argument("root", help="the CirCor 2022 folder")
    cmp_.add_argument("fold_dir", help="folder holding fold<i>.onnx")
    cmp_.add_argument("out", help="JSON file to write")
    cmp_.add_argument("methods", nargs="?", default=",".join(_METHODS),
                      help="comma-separated methods (default neural,springer2016)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.command == "cv":
        json.dump(cross_validate(args.root, args.fold_dir), sys.stdout, indent=1)
        return 0
    compare_cv(args.root, args.fold_dir, args.out, methods=tuple(args.methods.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
