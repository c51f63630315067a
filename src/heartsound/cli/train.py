"""``heartsound train segmenter`` and ``heartsound train classifier``: the commands that
reproduce every shipped model. torch is imported inside the functions only."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_segmenter_arguments", "segmenter_main", "add_classifier_arguments",
           "classifier_main", "lodo_folds", "summarize_cv"]

_METHODS = ("springer2016", "neural")
_SEG_DATASETS = ("circor2022", "pascal2011")
_TASKS = ("abnormal", "murmur", "severity")
_DATASETS = ("physionet2016", "circor2022", "pascal2011")
#: corpora a task trains on by default
_TRAIN_CORPORA = {"abnormal": ("physionet2016", "circor2022"), "murmur": ("circor2022",),
                  "severity": ("circor2022",)}


# --------------------------------------------------------------------------- train


def add_segmenter_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=_METHODS, default="springer2016")
    p.add_argument("--dataset", choices=("circor2022",), default="circor2022",
                   help="annotated training corpus")
    p.add_argument("--root", required=True, metavar="DIR", help="corpus folder")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="model file to write (default: springer2016.json / the neural "
                        "trainer's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="neural only")


def segmenter_main(args: argparse.Namespace) -> int:
    """Fit a segmenter on every annotated recording of the corpus and save it."""
    if args.method == "neural":
        from ..training.segmenter import train_from_args

        return int(train_from_args(args) or 0)
    import time

    from ..datasets import circor2022
    from ..evaluation.segmentation import circor_items
    from ..segmentation.springer import SpringerSegmenter

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



# ----------------------------------------------------------------------------- train

def add_classifier_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=_TASKS, required=True)
    p.add_argument("--model", choices=("cnn", "lstm", "gru"), default="cnn")
    p.add_argument("--no-attention", action="store_true",
                   help="global average pooling instead of attention pooling")
    p.add_argument("--attention", choices=("sigmoid", "softmax"), default="sigmoid",
                   help="rectification of the attention branch (default sigmoid)")
    p.add_argument("--bidirectional", action="store_true",
                   help="lstm/gru: bidirectional recurrent layers (forward and backward "
                        "states concatenated before the attention head)")
    p.add_argument("--upsample", action="store_true",
                   help="randomly up-sample minority classes (default: class-weighted loss)")
    p.add_argument("--balance", choices=("database",),
                   help="database: draw training recordings so that every (database, class) "
                        "pair weighs the same (PhysioNet 2016 a-f and CirCor are databases)")
    p.add_argument("--root", action="append", metavar="DIR",
                   help="corpus folder(s); a folder holding physionet2016/, circor2022/ ... "
                        "or a corpus folder itself (default ../shared/data)")
    p.add_argument("--corpora", nargs="+", choices=("physionet2016", "circor2022"),
                   help="corpora to train on (default: abnormal both, others circor2022)")
    p.add_argument("--cv", type=int, default=0, metavar="K",
                   help="run grouped stratified K-fold CV and print its scores instead of "
                        "training one model")
    p.add_argument("--lodo", action="store_true",
                   help="abnormal: leave-one-PhysioNet-database-out CV")
    p.add_argument("--epochs", type=int, default=30, help="maximum epochs (default 30)")
    p.add_argument("--max-minutes", type=float, default=6.0,
                   help="stop a training run after this many minutes (default 6)")
    p.add_argument("--widths", type=int, nargs=4, default=(16, 32, 64, 64),
                   help="CNN channels of the four conv layers (default 16 32 64 64)")
    p.add_argument("--time-pool", type=int, nargs=4, default=(2, 2, 2, 2),
                   help="CNN max-pooling factor along time per layer (default 2 2 2 2)")
    p.add_argument("--normalize", choices=("recording", "recording_bins", "none"),
                   default="recording", help="per-recording feature normalisation")
    p.add_argument("--analysis-rate", type=int, default=2000, metavar="HZ",
                   help="front-end sample rate: the 256-sample Hamming window lasts "
                        "256/HZ s (default 2000: 128 ms windows, 64 ms hop; 4000, the "
                        "paper's rate, halves both)")
    p.add_argument("--crop-frames", type=int, default=64, metavar="N",
                   help="frames per model input (default 64: 4.16 s at 2000 Hz); crops "
                        "overlap by half at inference")
    p.add_argument("--phase-channels", action="store_true",
                   help="lstm/gru: add four columns per frame, the share of the frame in "
                        "S1, systole, S2 and diastole by the default segmenter")
    p.add_argument("--no-augment", action="store_true",
                   help="no tilt/band-limit/mask augmentation")
    p.add_argument("--rule-tuning", choices=("grid", "bagged"), default="grid",
                   help="how the patient aggregation thresholds are chosen on the inner "
                        "validation split: best of a grid, or bootstrap-bagged (median of "
                        "the best thresholds over resamples); default grid")
    p.add_argument("--early-stop", choices=("uar", "auc"), default="uar",
                   help="inner-validation score for early stopping and model selection: "
                        "recording UAR of arg-max decisions (default) or macro one-vs-rest "
                        "ROC AUC of the recording probabilities")
    p.add_argument("--patience", type=int, default=5,
                   help="early-stopping patience in epochs (default 5)")
    p.add_argument("--inner-folds", type=int, default=1, metavar="K",
                   help="K > 1: cross-fitting, an ensemble of K networks each trained on "
                        "K-1 patient-grouped inner folds and early-stopped on the last, "
                        "with the aggregation rules tuned on the out-of-fold predictions of "
                        "all training patients (default 1: one network, 15%% inner split)")
    p.add_argument("--domain-adversarial", type=float, default=0.0, metavar="W",
                   help="domain-adversarial training against the recording's database "
                        "(gradient reversal, Ganin & Lempitsky 2015) with final weight W "
                        "(default 0: off)")
    p.add_argument("--jobs", type=int, default=1,
                   help="with --cv/--lodo: folds trained in parallel processes; without "
                        "them, with --inner-folds: the members (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FILE", help="write the ONNX model (and FILE.md card)")
    p.add_argument("--half-weights", action="store_true",
                   help="with --out: store the weights as float16 in the ONNX file (cast "
                        "to float32 in the graph, so the arithmetic is unchanged): half "
                        "the size, for ensembles")
    p.add_argument("--json", metavar="FILE", help="write CV predictions/scores as JSON")


def _resolve_roots(roots: list[str] | None) -> dict[str, Path]:
    from ..errors import DatasetError

    roots = roots or ["../shared/data"]
    out: dict[str, Path] = {}
    for r in roots:
        p = Path(r)
        for name in _DATASETS:
            if p.name == name:
                out[name] = p
            elif (p / name).is_dir():
                out.setdefault(name, p / name)
    if not out:
        raise DatasetError(f"no corpus folder found under {', '.join(roots)}")
    return out


def _read(names: tuple[str, ...] | list[str], roots: dict[str, Path]) -> list:
    from ..datasets import read
    from ..errors import DatasetError

    recs = []
    for n in names:
        if n not in roots:
            raise DatasetError(f"corpus {n} not found (give --root)")
        recs += read(n, roots[n])
    return recs


def classifier_main(args: argparse.Namespace) -> int:
    """Train a classifier (or cross-validate it) from the corpora."""
    import logging

    import numpy as np

    from ..training import classifier as tc
    from ..classification.frontend import FrontendConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    roots = _resolve_roots(args.root)
    names = tuple(args.corpora or _TRAIN_CORPORA[args.task])
    recs = _read(names, roots)
    kw = dict(model=args.model, attention=None if args.no_attention else args.attention,
              upsample=args.upsample, balance=args.balance, max_epochs=args.epochs,
              bidirectional=args.bidirectional,
              max_minutes=args.max_minutes,
              widths=tuple(args.widths), time_pool=tuple(args.time_pool), seed=args.seed,
              augment=not args.no_augment, rule_tuning=args.rule_tuning,
              early_stop=args.early_stop, patience=args.patience,
              inner_folds=args.inner_folds, domain_adversarial=args.domain_adversarial,
              frontend=FrontendConfig(sr=args.analysis_rate, normalize=args.normalize,
                                      crop_frames=args.crop_frames,
                                      crop_hop=max(1, args.crop_frames // 2),
                                      phase_channels=args.phase_channels))
    if args.cv or args.lodo:
        folds = None
        if args.lodo:
            folds = lodo_folds(args.task, recs)
        kw.pop("seed")
        res = tc.cross_validate(args.task, recs, k=args.cv or 5, seed=args.seed, folds=folds,
                                progress=True, jobs=args.jobs, **kw)
        summary = summarize_cv(args.task, recs, res, lodo=args.lodo)
        print(json.dumps(summary, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"summary": summary, "args": {k: v for k, v in vars(args).items()
                                              if isinstance(v, (str, int, float, bool, list,
                                                                tuple, type(None)))},
                 "folds": [{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                            for k, v in f.items()} for f in res]}))
        return 0
    m = tc.train(task=args.task, train_records=recs, progress=True, jobs=args.jobs, **kw)
    if args.out:
        sha = tc.export_onnx(m, args.out, extra={"corpora": list(names)},
                             half_weights=args.half_weights)
        import shlex
        import sys

        command = "heartsound " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        Path(args.out).with_suffix(".md").write_text(tc.model_card(args.out, command=command))
        print(json.dumps({"out": args.out, "sha256": sha, "rules": m.rules,
                          "epochs": len(m.history), "history": m.history[-1]}))
    return 0


def lodo_folds(task: str, recs: list) -> list[tuple[list[int], list[int]]]:
    """Leave-one-PhysioNet-database-out folds over the records that have a ``task`` target:
    test on one database ``a``..``f``, train on the other five (plus every non-PhysioNet
    record)."""
    from ..classification.tasks import patient_target

    recs = [r for r in recs if patient_target(task, r) is not None]
    dbs = sorted({r.labels.get("database") for r in recs if r.corpus == "physionet2016"})
    folds = []
    for d in dbs:
        te = [i for i, r in enumerate(recs)
              if r.corpus == "physionet2016" and r.labels.get("database") == d]
        tr = [i for i in range(len(recs)) if i not in set(te)]
        folds.append((tr, te))
    return folds


def summarize_cv(task: str, recs: list, folds: list[dict], *, lodo: bool = False) -> dict:
    """Pooled and per-fold scores of :func:`~heartsound.training.classifier.cross_validate`
    output."""
    from ..evaluation.classification import scores

    truth = [t for f in folds for t in f["truth"]]
    pred = [p for f in folds for p in f["pred"]]
    out = {"task": task, "n": len(truth), "pooled": scores(task, truth, pred),
           "per_fold": []}
    for f in folds:
        s = scores(task, f["truth"], f["pred"])
        if task == "abnormal":
            s["auc"] = _fold_auc(f)
        s["fold"] = f["fold"]
        if lodo:
            s["database"] = f["test_ids"][0].split("/")[1][0]
        out["per_fold"].append(s)
    key = {"abnormal": "macc", "murmur": "weighted_accuracy", "severity": "uar"}[task]
    out[f"mean_{key}"] = float(sum(s[key] for s in out["per_fold"]) / len(folds))
    if task == "abnormal":
        aucs = [s["auc"] for s in out["per_fold"] if s["auc"] is not None]
        out["mean_auc"] = float(sum(aucs) / len(aucs)) if aucs else None
    return out


def _fold_auc(f: dict) -> float | None:
    import numpy as np

    from ..evaluation.classification import binary_auc

    y = np.array([t == "abnormal" for t in f["truth"]])
    s = np.asarray(f["probs"])[:, 1]
    return binary_auc(y, s) if len(s) == len(y) else None


