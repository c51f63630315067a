"""``heartsound train segmenter`` and ``heartsound train classifier``: the commands that
reproduce every shipped model.

The training options are made from the configuration dataclasses
(:class:`heartsound.training.classifier.TrainConfig`,
:class:`heartsound.training.segmenter.TrainConfig`) by
:func:`heartsound.training.config.add_config_arguments`: defaults, choices and help are
written once, in the dataclass. torch is imported only when a model is trained.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..classification.frontend import NORMALIZATIONS, FrontendConfig
from ..classification.tasks import TASKS
from ..datasets import circor2022, find_corpora, read
from ..errors import DatasetError, ParameterError
from ..evaluation.classification import lodo_folds, summarize_cv
from ..evaluation.segmentation import circor_items
from ..segmentation import METHODS
from ..segmentation.springer import SpringerSegmenter
from ..serialize import portable
from ..training import classifier as tc
from ..training import segmenter as ts
from ..training.config import add_config_arguments, config_kwargs

__all__ = ["add_segmenter_arguments", "segmenter_main", "add_classifier_arguments",
           "classifier_main", "lodo_folds", "summarize_cv"]

#: corpora a task trains on by default
_TRAIN_CORPORA = {"abnormal": ("physionet2016", "circor2022"), "murmur": ("circor2022",),
                  "severity": ("circor2022",)}
_DEFAULT_ROOT = "../shared/data"


# --------------------------------------------------------------------------- segmenter


def add_segmenter_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=tuple(METHODS), default="springer2016")
    p.add_argument("--dataset", choices=("circor2022",), default="circor2022",
                   help="annotated training corpus")
    p.add_argument("--root", required=True, metavar="DIR", help="corpus folder")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="model file to write (default: springer2016.json / "
                        "segmenter_neural.onnx)")
    add_config_arguments(p, ts.TrainConfig, only=("seed",))
    neural = p.add_argument_group("neural method only")
    add_config_arguments(neural, ts.TrainConfig,
                         only=[f.name for f in dataclasses.fields(ts.TrainConfig)
                               if f.name != "seed"])
    neural.add_argument("--fold", type=int, default=None, metavar="F",
                        help="train on the folds other than F of the shared patient-"
                             "independent CirCor split (default: every annotated recording, "
                             "how the shipped model was made)")
    neural.add_argument("--k", type=int, default=5, help="folds of that split (default 5)")


def segmenter_main(args: argparse.Namespace) -> int:
    """Fit a segmenter on every annotated recording of the corpus and save it."""
    if args.method == "neural":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        cfg = ts.TrainConfig(**config_kwargs(args, ts.TrainConfig))
        res = ts.train_corpus(args.root, args.out or "segmenter_neural.onnx", cfg,
                              fold=args.fold, k=args.k)
        print(json.dumps(res))
        return 0
    t0 = time.perf_counter()
    records = circor2022.read(args.root)
    model = SpringerSegmenter(seed=args.seed)
    items = circor_items(records, segmenter=model, progress=sys.stderr.isatty())
    model.fit([x for it in items for x in it["train_features"]],
              [it["states"] for it in items for _ in it["train_features"]])
    out = Path(args.out or "springer2016.json")
    model.save(out)
    print(f"trained springer2016 on {len(items)} annotated recordings "
          f"(with band-limited copies: {model.augment_band_hz}) "
          f"({model.n_train_frames_} frames) in {time.perf_counter() - t0:.0f} s -> {out}")
    return 0


# --------------------------------------------------------------------------- classifier


def _add_frontend_arguments(p: argparse.ArgumentParser) -> None:
    fe = FrontendConfig()
    p.add_argument("--normalize", choices=NORMALIZATIONS, default=fe.normalize,
                   help=f"per-recording feature normalisation (default {fe.normalize})")
    p.add_argument("--analysis-rate", type=int, default=fe.sr, metavar="HZ",
                   help=f"front-end sample rate: the {fe.n_fft}-sample Hamming window lasts "
                        f"{fe.n_fft}/HZ s (default {fe.sr}: 128 ms windows, 64 ms hop; 4000, "
                        "the paper's rate, halves both)")
    p.add_argument("--crop-frames", type=int, default=fe.crop_frames, metavar="N",
                   help=f"frames per model input (default {fe.crop_frames}: 4.16 s at "
                        f"{fe.sr} Hz); crops overlap by half at inference")
    p.add_argument("--phase-channels", action="store_true",
                   help="lstm/gru: add four columns per frame, the share of the frame in "
                        "S1, systole, S2 and diastole by the default segmenter")


def add_classifier_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--root", action="append", metavar="DIR",
                   help="corpus folder(s); a folder holding physionet2016/, circor2022/ ... "
                        f"or a corpus folder itself (default {_DEFAULT_ROOT})")
    p.add_argument("--corpora", nargs="+", choices=("physionet2016", "circor2022"),
                   help="corpora to train on (default: abnormal both, others circor2022)")
    p.add_argument("--cv", type=int, default=0, metavar="K",
                   help="run grouped stratified K-fold CV and print its scores instead of "
                        "training one model")
    p.add_argument("--lodo", action="store_true",
                   help="abnormal: leave-one-PhysioNet-database-out CV")
    p.add_argument("--folds", type=int, nargs="+", metavar="F",
                   help="with --cv/--lodo: run only these folds (0-based) of the same "
                        "split; the scores are those of these folds (default every fold)")
    add_config_arguments(p, tc.TrainConfig,
                         only=[f.name for f in dataclasses.fields(tc.TrainConfig)
                               if f.name != "task"])
    _add_frontend_arguments(p)
    p.add_argument("--jobs", type=int, default=1,
                   help="with --cv/--lodo: folds trained in parallel processes; without "
                        "them, with --inner-folds: the members (default 1)")
    p.add_argument("--out", metavar="FILE", help="write the ONNX model (and FILE.md card)")
    p.add_argument("--half-weights", action="store_true",
                   help="with --out: store the weights as float16 in the ONNX file (cast "
                        "to float32 in the graph, so the arithmetic is unchanged): half "
                        "the size, for ensembles")
    p.add_argument("--json", metavar="FILE", help="write CV predictions/scores as JSON")


def _resolve_roots(roots: list[str] | None) -> dict[str, Path]:
    roots = roots or [_DEFAULT_ROOT]
    found = find_corpora(roots)
    if not found:
        raise DatasetError(f"no corpus folder found under {', '.join(roots)}")
    return found


def _read(names: tuple[str, ...] | list[str], roots: dict[str, Path]) -> list:
    recs = []
    for n in names:
        if n not in roots:
            raise DatasetError(f"corpus {n} not found (give --root)")
        recs += read(n, roots[n])
    return recs


def _classifier_config(args: argparse.Namespace) -> Any:
    """The one :class:`~heartsound.training.classifier.TrainConfig` of the command."""
    frontend = FrontendConfig(sr=args.analysis_rate, normalize=args.normalize,
                              crop_frames=args.crop_frames,
                              crop_hop=max(1, args.crop_frames // 2),
                              phase_channels=args.phase_channels)
    return tc.TrainConfig(frontend=frontend, **config_kwargs(args, tc.TrainConfig))


def _write_cv_json(path: str, args: argparse.Namespace, summary: dict,
                   folds: list[dict]) -> None:
    simple = (str, int, float, bool, list, tuple, type(None))
    Path(path).write_text(json.dumps(
        {"summary": summary,
         "args": portable({k: v for k, v in vars(args).items() if isinstance(v, simple)}),
         "folds": [{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                    for k, v in f.items()} for f in folds]}))


def classifier_main(args: argparse.Namespace) -> int:
    """Train a classifier (or cross-validate it) from the corpora."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = _classifier_config(args)
    hyper = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    task, seed = hyper.pop("task"), hyper.pop("seed")
    names = tuple(args.corpora or _TRAIN_CORPORA[task])
    recs = _read(names, _resolve_roots(args.root))
    if args.folds and not (args.cv or args.lodo):
        raise ParameterError("--folds needs --cv or --lodo")
    if args.cv or args.lodo:
        folds = lodo_folds(task, recs) if args.lodo else None
        res = tc.cross_validate(task, recs, k=args.cv or 5, seed=seed, folds=folds,
                                only=args.folds, progress=True, jobs=args.jobs, **hyper)
        summary = summarize_cv(task, recs, res, lodo=args.lodo)
        print(json.dumps(summary, indent=1))
        if args.json:
            _write_cv_json(args.json, args, summary, res)
        return 0
    m = tc.train(task=task, train_records=recs, progress=True, jobs=args.jobs, seed=seed,
                 **hyper)
    if args.out:
        sha = tc.export_onnx(m, args.out, extra={"corpora": list(names)},
                             half_weights=args.half_weights)
        command = "heartsound " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        Path(args.out).with_suffix(".md").write_text(tc.model_card(args.out, command=command))
        print(json.dumps({"out": args.out, "sha256": sha, "rules": m.rules,
                          "epochs": len(m.history), "history": m.history[-1]}))
    return 0


