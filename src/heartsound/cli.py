"""The ``heartsound`` command line.

Each area supplies ``add_<x>_arguments(parser)`` and ``<x>_main(args) -> int`` in a module
whose top-level imports are light; this file only wires them together, so ``heartsound
--help`` stays fast. Every :class:`~heartsound.errors.HeartsoundError` becomes a one-line
``heartsound: error: ...`` message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._version import __version__

# (command, module, add-arguments function, main function, help)
_COMMANDS = [
    ("analyze", "heartsound.analyze_cli", "add_analyze_arguments", "analyze_main",
     "analyse recordings: quality, segmentation, classification, reports"),
    ("segment", "heartsound.segmentation.cli", "add_segment_arguments", "segment_main",
     "find S1/S2 and the four cardiac states of a recording"),
    ("classify", "heartsound.classification.cli", "add_classify_arguments", "classify_main",
     "classify a recording (abnormal, murmur, severity)"),
    ("batch", "heartsound.analyze_cli", "add_batch_arguments", "batch_main",
     "analyse every recording under a folder, resumably"),
    ("info", "heartsound.cli", "add_info_arguments", "info_main",
     "describe a recording: duration, rate, channels, clipping, quality"),
    ("datasets", "heartsound.datasets.cli", "add_datasets_arguments", "datasets_main",
     "list or download the public heart-sound corpora"),
]
# nested: heartsound train {segmenter,classifier}; heartsound evaluate {segmentation,classification}
_NESTED = {
    "train": ("train a model", [
        ("segmenter", "heartsound.segmentation.cli", "add_train_arguments", "train_main",
         "train a segmenter (springer2016 or neural)"),
        ("classifier", "heartsound.classification.cli", "add_train_arguments", "train_main",
         "train a classifier (cnn, lstm, gru)"),
    ]),
    "evaluate": ("measure a shipped model on a corpus", [
        ("segmentation", "heartsound.segmentation.cli", "add_evaluate_arguments",
         "evaluate_main", "S1/S2 detection scores on an annotated corpus"),
        ("classification", "heartsound.classification.cli", "add_evaluate_arguments",
         "evaluate_main", "classification scores on a labelled corpus"),
    ]),
}


def add_info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file(s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def info_main(args: argparse.Namespace) -> int:
    """Print duration, sample rate, channels, clipping and a first quality check."""
    import json

    from .errors import HeartsoundError
    from .io import load

    status = 0
    for f in args.files:
        try:
            rec = load(f)
            out = {"file": rec.source, "duration_s": round(rec.duration_s, 3), "sr": rec.sr,
                   "channels": rec.meta["channels"], "format": rec.meta["format"],
                   "subtype": rec.meta["subtype"], "n_clipped": rec.meta["n_clipped"],
                   "clipped_share": round(rec.meta["n_clipped"] / max(1, len(rec.y)), 5)}
            try:
                from .quality import assess
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


def _attach(sub: argparse._SubParsersAction, name: str, module: str, add: str, main: str,
            help_: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # an area missing from this install: show it, fail on use
        p = sub.add_parser(name, help=f"{help_} (unavailable: {exc})")
        p.set_defaults(func=lambda a, e=exc, n=name: _unavailable(n, e))
        return
    p = sub.add_parser(name, help=help_, description=help_)
    getattr(mod, add)(p)
    p.set_defaults(func=getattr(mod, main))


def _unavailable(name: str, exc: Exception) -> int:
    print(f"heartsound: error: command {name!r} is unavailable: {exc}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heartsound",
        description="Heart-sound (PCG) analysis: segmentation, classification, reports.")
    parser.add_argument("--version", action="version", version=f"heartsound {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, add, main, help_ in _COMMANDS:
        _attach(sub, name, module, add, main, help_)
    for name, (help_, children) in _NESTED.items():
        p = sub.add_parser(name, help=help_, description=help_)
        nsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
        for child in children:
            _attach(nsub, *child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import HeartsoundError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HeartsoundError as exc:
        print(f"heartsound: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heartsound: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
