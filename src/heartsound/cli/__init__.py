"""The ``heartsound`` command line.

Each area supplies ``add_<x>_arguments(parser)`` and ``<x>_main(args) -> int`` in a module
whose top-level imports are light; this file only wires them together, so ``heartsound
--help`` stays fast.

Exit codes: 0 success; 1 ``batch`` with failed files; 2 a bad option or any file that
failed (each one line ``heartsound: error: <file>: <problem>`` on stderr); 130
interrupted. Every :class:`~heartsound.errors.HeartsoundError`, operating-system error
(a folder that cannot be written...) and unexpected exception becomes one line, never a
traceback (``-v`` adds the traceback of an unexpected one); a Python warning is one
``heartsound: warning: ...`` line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from .._version import __version__
from ..errors import HeartsoundError
from ..serialize import display_text

# (command, module, help); each module has ``add_arguments(parser)`` and ``main(args) -> int``
_COMMANDS = [
    ("analyze", "heartsound.cli.analyze",
     "analyse recordings: quality, segmentation, classification, reports"),
    ("segment", "heartsound.cli.segment", "find S1/S2 and the four cardiac states of a recording"),
    ("classify", "heartsound.cli.classify", "classify a recording (abnormal, murmur, severity)"),
    ("batch", "heartsound.cli.batch", "analyse every recording under a folder, resumably"),
    ("info", "heartsound.cli.info",
     "describe a recording: duration, rate, channels, clipping, quality"),
    ("quality", "heartsound.cli.quality",
     "score signal quality of recordings: usable or not, and why"),
    ("datasets", "heartsound.cli.datasets", "list or download the public heart-sound corpora"),
    ("listen", "heartsound.cli.listen", "live S1/S2 and heart rate from a file or a pipe"),
    ("serve", "heartsound.cli.serve", "web app and HTTP API: review, listen to, correct"),
    ("calibrate", "heartsound.cli.calibrate", "fit a site calibration on labelled recordings"),
]
# nested: heartsound train {segmenter,classifier}; heartsound evaluate {segmentation,classification}
# (what, module, add-arguments function, main function, help)
_NESTED = {
    "train": ("train a model", [
        ("segmenter", "heartsound.cli.train", "add_segmenter_arguments", "segmenter_main",
         "train a segmenter (springer2016 or neural)"),
        ("classifier", "heartsound.cli.train", "add_classifier_arguments", "classifier_main",
         "train a classifier (cnn, lstm, gru)"),
    ]),
    "evaluate": ("measure a shipped model on a corpus", [
        ("segmentation", "heartsound.cli.evaluate", "add_segmentation_arguments",
         "segmentation_main", "S1/S2 detection scores on an annotated corpus"),
        ("classification", "heartsound.cli.evaluate", "add_classification_arguments",
         "classification_main", "classification scores on a labelled corpus"),
    ]),
}


def _attach(sub: argparse._SubParsersAction, name: str, module: str, add: str, main: str,
            help_: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        if exc.name == module:  # the command's own module is not in this build: no command
            return
        # a dependency of the area is missing from this install: show it, fail on use
        p = sub.add_parser(name, help=f"{help_} (unavailable: {exc})")
        p.set_defaults(func=lambda a, e=exc, n=name: _unavailable(n, e))
        return
    p = sub.add_parser(name, help=help_, description=help_)
    getattr(mod, add)(p)
    p.set_defaults(func=getattr(mod, main))


def _unavailable(name: str, exc: Exception) -> int:
    print(f"heartsound: error: command {name!r} is unavailable: {exc}", file=sys.stderr)
    return 2


def _stub(sub: argparse._SubParsersAction, name: str, help_: str) -> None:
    """A command listed in ``--help`` whose module is not imported (it is not the one
    being run): ``heartsound analyze`` does not pay for importing training code."""
    sub.add_parser(name, help=help_, add_help=False)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``heartsound`` parser. Only ``command``'s module is imported and given its
    options (every command's when ``command`` is None); the others are listed by name."""
    parser = argparse.ArgumentParser(
        prog="heartsound",
        description="Heart-sound (PCG) analysis: segmentation, classification, reports.")
    parser.add_argument("--version", action="version", version=f"heartsound {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_ in _COMMANDS:
        if command in (None, name):
            _attach(sub, name, module, "add_arguments", "main", help_)
        else:
            _stub(sub, name, help_)
    for name, (help_, children) in _NESTED.items():
        if command not in (None, name):
            _stub(sub, name, help_)
            continue
        p = sub.add_parser(name, help=help_, description=help_)
        nsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
        for child in children:
            _attach(nsub, *child)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if any."""
    known = {c[0] for c in _COMMANDS} | set(_NESTED)
    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a if a in known else None
    return None


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """A warning as one ``heartsound: warning: ...`` line (no source line, no path)."""
    print(f"heartsound: warning: {display_text(message)}", file=file or sys.stderr)


def _lenient_streams() -> None:
    """Text that the terminal's encoding cannot show is escaped, never an error."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass


def _error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return display_text(f"{where}{exc.strerror}")
    return display_text(exc)


def _run(args: Any) -> int:
    try:
        return int(args.func(args) or 0)
    except HeartsoundError as exc:
        print(f"heartsound: error: {_error(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("heartsound: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"heartsound: error: {_error(exc)}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        if args.verbose:
            traceback.print_exc()
        print(f"heartsound: error: unexpected {type(exc).__name__}: {_error(exc)} (please "
              "report it; -v shows the traceback)", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _lenient_streams()
    parser = build_parser(_command(argv) or "")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return _run(args)
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
