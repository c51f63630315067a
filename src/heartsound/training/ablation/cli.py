"""``python -m heartsound.training.ablation``: run the ablation or render its results."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ...classification.frontend import NORMALIZATIONS, FrontendConfig
from ...classification.tasks import TASKS
from ..classifier import TrainConfig
from ..config import add_config_arguments, config_kwargs
from ..runtime import import_torch
from .report import render
from .run import CONFIGS, DESIGNS, read_records, run

__all__ = ["build_parser", "main"]

#: TrainConfig fields the ablation exposes, with its own defaults (short runs per fold).
_SHARED = ("max_epochs", "max_minutes", "patience", "widths", "rnn_units")
_DEFAULTS = {"max_epochs": 25, "max_minutes": 1.0}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m heartsound.training.ablation",
                                description="Ablation of the attention classifiers of "
                                            "Ren et al. 2022 on heartsound's tasks.")
    p.add_argument("--task", choices=TASKS, default="severity")
    p.add_argument("--root", action="append", metavar="DIR",
                   help="corpus folder (circor2022 / physionet2016) or a folder holding "
                        "them (default ../shared/data/circor2022)")
    p.add_argument("--out", default="docs/results/ablation.json", metavar="FILE")
    p.add_argument("--configs", nargs="+", metavar="NAME",
                   help=f"configurations (default: the task's design); valid: {', '.join(CONFIGS)}")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    add_config_arguments(p, TrainConfig, only=_SHARED, defaults=_DEFAULTS)
    p.add_argument("--normalize", choices=NORMALIZATIONS, default=FrontendConfig().normalize,
                   help="per-recording log-Mel normalisation (default recording; the "
                        "shipped abnormal model uses recording_bins)")
    p.add_argument("--render", nargs="+", metavar="JSON",
                   help="only draw figures and print Markdown of these result files")
    p.add_argument("--figures", default="docs/figures", metavar="DIR")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.render:
        print(render(args.render, args.figures))
        return 0
    import_torch()
    recs, corpora = read_records(args.root or ["../shared/data/circor2022"], args.task)
    cmd = "python -m heartsound.training.ablation " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    run(args.task, recs, args.configs or DESIGNS[args.task], args.out, k=args.k,
        seed=args.seed, progress=True, extra={"command": cmd, "corpora": corpora},
        frontend=FrontendConfig(normalize=args.normalize),
        **config_kwargs(args, TrainConfig, only=_SHARED))
    return 0
