"""``heartsound evaluate segmentation`` and ``heartsound evaluate classification``: score a
model on an annotated corpus."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..classification.tasks import TASKS
from ..datasets import NAMES as DATASETS
from ..datasets.pascal2011 import SETS as PASCAL_SETS
from ..errors import ParameterError
from ..evaluation import EVENT_TIMES, SEGMENTATION_DATASETS
from ..segmentation import METHODS
from ..serialize import to_jsonable

__all__ = ["add_segmentation_arguments", "segmentation_main",
           "add_classification_arguments", "classification_main"]

#: Method scored when ``--method`` is not given: the one the published CirCor CV and
#: PASCAL figures of ``heartsound evaluate segmentation`` were first reported for.
_DEFAULT_METHOD = "springer2016"


# --------------------------------------------------------------------------- segmentation


def add_segmentation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=SEGMENTATION_DATASETS, required=True)
    p.add_argument("--root", required=True, metavar="DIR", help="corpus folder (test data)")
    p.add_argument("--method", choices=tuple(METHODS), default=_DEFAULT_METHOD)
    p.add_argument("--model", metavar="FILE", default=None,
                   help="springer2016 only: evaluate this JSON model, not the shipped one")
    p.add_argument("--tolerance-ms", type=float, default=60.0,
                   help="headline tolerance (30 and 100 ms are always reported too)")
    p.add_argument("--cv", type=int, default=None, metavar="K",
                   help="circor2022 only: patient-independent K-fold cross-validation "
                        "(train on K-1 folds, test on the held-out one; seed 0)")
    p.add_argument("--seed", type=int, default=0, help="fold seed for --cv")
    p.add_argument("--event-time", choices=EVENT_TIMES, default=EVENT_TIMES[0],
                   help="instant of each estimated sound compared with the reference: the "
                        "centre of the decoded segment (CirCor's convention, default) or the "
                        "envelope peak inside it (PASCAL annotates peaks); not with --cv")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _headline(by_tol: dict[str, Any], tol_ms: float) -> dict[str, Any]:
    h = by_tol[f"{int(round(tol_ms))}ms"]
    return {"s1": {k: h["S1"][k] for k in ("sensitivity", "ppv", "f1")},
            "s2": {k: h["S2"][k] for k in ("sensitivity", "ppv", "f1")},
            "f1": h["f1"], "timing_error_ms_median": h["timing_error_ms_median"]}


def _cross_validate(args: argparse.Namespace, tols: tuple[float, ...]) -> dict[str, Any] | int:
    """``--cv``: the Springer CV result, or the neural trainer's exit code."""
    from ..evaluation.segmentation import cross_validate_circor

    if args.dataset != "circor2022":
        raise ParameterError("--cv needs --dataset circor2022 (the annotated training corpus)")
    if args.event_time != EVENT_TIMES[0]:
        raise ParameterError("--event-time peak is not available with --cv")
    if args.method == "neural":
        from ..training import segmenter as trainer

        if not hasattr(trainer, "cross_validate_from_args"):
            raise ParameterError("cross-validation of the neural segmenter is not "
                                 "available in this installation")
        return int(trainer.cross_validate_from_args(args) or 0)
    return cross_validate_circor(args.root, k=args.cv, seed=args.seed, tolerances=tols,
                                 progress=sys.stderr.isatty())


def _score_corpus(args: argparse.Namespace, tols: tuple[float, ...]) -> dict[str, Any]:
    """The shipped (or ``--model``) segmenter scored on the whole corpus."""
    from ..evaluation.segmentation import evaluate
    from ..io import validate_audio
    from ..segmentation import get_method

    kwargs: dict[str, Any] = {}
    if args.model is not None:
        if args.method != "springer2016":
            raise ParameterError("--model is only used with --method springer2016")
        from ..segmentation.springer import SpringerSegmenter

        kwargs["model"] = SpringerSegmenter.load(args.model)
    segmenter = get_method(args.method, **kwargs)

    def segment_fn(y: Any, sr: float) -> Any:
        return segmenter.segment(validate_audio(y, sr), sr)

    return evaluate(args.dataset, args.root, segment_fn, tolerances=tols,
                    progress=sys.stderr.isatty(), event_time=args.event_time)


def _print_segmentation(args: argparse.Namespace, res: dict[str, Any],
                        by_tol: dict[str, Any]) -> None:
    """The text report (unrounded values: NaN prints as ``nan``)."""
    print(f"{args.method} on {args.dataset}: {res['n_recordings']} recordings"
          + (f", {args.cv}-fold patient-independent CV" if args.cv else "")
          + f" ({res['seconds']:.0f} s)")
    if args.cv is not None:
        hr = res["heart_rate"]
        print(f"  heart rate within 10 % of the annotation: {hr['within_10pct']:.3f} "
              f"(half {hr['half']:.3f}, double {hr['double']:.3f}, other {hr['other']:.3f})")
    for key, h in by_tol.items():
        print(f"  ±{key:>6}: F1 {h['f1']:.4f}  S1 F1 {h['S1']['f1']:.4f} "
              f"(Se {h['S1']['sensitivity']:.4f}, PPV {h['S1']['ppv']:.4f})  "
              f"S2 F1 {h['S2']['f1']:.4f} (Se {h['S2']['sensitivity']:.4f}, "
              f"PPV {h['S2']['ppv']:.4f})  median |error| "
              f"{h['timing_error_ms_median']:.1f} ms")


def segmentation_main(args: argparse.Namespace) -> int:
    """Score the shipped (or given) model on a corpus, or cross-validate on CirCor."""
    from ..evaluation.segmentation import TOLERANCES_S

    tol_ms = float(args.tolerance_ms)
    if not 0 < tol_ms <= 500:
        raise ParameterError(f"--tolerance-ms must be in (0, 500], got {tol_ms}")
    tols = tuple(sorted(set(TOLERANCES_S) | {round(tol_ms / 1000.0, 6)}))
    if args.cv is not None:
        res = _cross_validate(args, tols)
        if isinstance(res, int):
            return res
        by_tol = res["pooled"]
    else:
        res = _score_corpus(args, tols)
        by_tol = res["by_tolerance"]
    out = {"dataset": args.dataset, "method": args.method, "n_recordings": res["n_recordings"],
           "event_time": args.event_time, "tolerance_ms": tol_ms, **_headline(by_tol, tol_ms),
           "seconds": res["seconds"], "by_tolerance": by_tol}
    if args.cv is not None:
        out.update(cv=args.cv, seed=args.seed, folds=res["folds"],
                   heart_rate=res["heart_rate"], per_recording=res["per_recording"])
    else:
        out["model"] = args.model or "shipped"
        for key in ("per_recording", "n_estimated_in_annotation_gaps",
                    "by_tolerance_gaps_excluded"):
            if key in res:
                out[key] = res[key]
    out = to_jsonable(out)
    if args.json:
        print(json.dumps(out))
    else:
        _print_segmentation(args, res, by_tol)
    return 0


# --------------------------------------------------------------------------- classification


def add_classification_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--dataset", choices=DATASETS, required=True)
    p.add_argument("--root", required=True, metavar="DIR",
                   help="corpus folder, treated as test data for the shipped model")
    p.add_argument("--sets", nargs="+", choices=PASCAL_SETS,
                   help="PASCAL 2011 sets (default both)")
    p.add_argument("--model", metavar="FILE",
                   help="score this exported ONNX file instead of the shipped model")
    p.add_argument("--json", action="store_true", help="print JSON")


def classification_main(args: argparse.Namespace) -> int:
    """Score the shipped model of ``--task`` on a labelled corpus."""
    from ..evaluation.classification import evaluate

    kw = {"sets": args.sets} if args.sets else {}
    res = evaluate(args.task, args.dataset, args.root, model=args.model, **kw)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k}\t{v}")
    return 0
