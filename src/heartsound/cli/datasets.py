"""``heartsound datasets``: list the public corpora and download them.

Wired into the top-level CLI by :mod:`heartsound.cli` through
:func:`add_arguments` and :func:`main`. Top-level imports are light (the corpus
names of :data:`heartsound.datasets.NAMES`, the errors); the download machinery (urllib,
zip/tar, tqdm: ~70 ms) is imported when a command runs, since every ``heartsound``
invocation imports this module to build its parser.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from ..datasets import NAMES
from ..errors import ParameterError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list`` and ``download`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="datasets_command", metavar="{list,download}")
    sub.required = True

    p_list = sub.add_parser(
        "list", help="show the supported corpora and whether they are found locally",
        description="Show name, description, licence, size, URL of each corpus and "
                    "whether it is found under --data.")
    p_list.add_argument("--data", metavar="DIR", default=None,
                        help="folder holding one sub-folder per corpus "
                             "(default: $HEARTSOUND_DATA)")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of text")

    p_dl = sub.add_parser(
        "download", help="download, verify and unpack a corpus",
        description="Download the official archive of a corpus (resumable), verify its "
                    "sha256 and unpack it into --to. Prints the corpus folder.")
    p_dl.add_argument("name", metavar="NAME",
                      help=f"corpus: {', '.join(NAMES)}")
    p_dl.add_argument("--to", metavar="DIR", required=True, help="download folder")
    p_dl.add_argument("--url", default=None,
                      help="mirror URL for the main archive (replaces the official one)")
    p_dl.add_argument("--sha256", default=None,
                      help="expected sha256 of the main archive (overrides the registry)")
    p_dl.add_argument("--retries", type=int, default=3,
                      help="resume attempts after a broken connection (default 3)")
    p_dl.add_argument("--remove-archives", action="store_true",
                      help="delete archives after unpacking")
    p_dl.add_argument("--no-progress", action="store_true", help="no progress bar")


def _list(args: argparse.Namespace) -> int:
    from ..datasets.download import DATASETS, find_local

    data_dir = args.data or os.environ.get("HEARTSOUND_DATA")
    rows = []
    for name, meta in DATASETS.items():
        found = find_local(name, data_dir) if data_dir else None
        rows.append({
            "name": name,
            "description": meta.description,
            "licence": meta.licence,
            "size": meta.size,
            "url": meta.homepage,
            "download": [f.url for f in meta.files],
            "local": str(found) if found is not None else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(row["name"])
        print(f"  description: {row['description']}")
        print(f"  licence:     {row['licence']}")
        print(f"  size:        {row['size']}")
        print(f"  url:         {row['url']}")
        for u in row["download"]:
            print(f"  download:    {u}")
        local = row["local"] or ("not found" if data_dir else "not found (set --data)")
        print(f"  local:       {local}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from ..datasets.download import download

    if args.retries < 0:
        raise ParameterError(f"--retries must be >= 0, got {args.retries}")
    logger = logging.getLogger("heartsound.datasets")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("heartsound: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        root = download(args.name, args.to, url=args.url, sha256=args.sha256,
                        progress=not args.no_progress, retries=args.retries,
                        keep_archives=not args.remove_archives)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    print(root)
    return 0


def main(args: argparse.Namespace) -> int:
    """Run ``heartsound datasets list|download``; returns the exit code.

    Bad input raises :class:`~heartsound.errors.HeartsoundError` (the top-level CLI
    prints it and exits 2).
    """
    command = getattr(args, "datasets_command", None)
    if command == "list":
        return _list(args)
    if command == "download":
        return _download(args)
    raise ParameterError(f"unknown datasets command {command!r}; valid: list, download")
