"""Training the segmenter on CirCor (all of it, or per fold of the shared patient-
independent split) and comparing the fold models with springer2016 on the same folds,
clean and in white noise."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...datasets import circor2022
from ...datasets.circor2022 import read_tsv
from ...errors import ParameterError
from ...evaluation.segmentation import circor_items, score_circor
from ...evaluation.segmentation import summary
from ...io import load
from ...segmentation.neural import NeuralSegmenter
from ...segmentation.springer import SpringerSegmenter
from .augmentation import noisy
from .config import TrainConfig, default_cache_dir
from .data import FeatureCache, build_cache, fold_indices
from .export import export_onnx
from .loop import train

__all__ = ["train_corpus", "cross_validate", "compare_cv", "cross_validate_from_args"]

log = logging.getLogger(__name__)


def _train_indices(records: Sequence[Any], cache: FeatureCache,
                   record_idx: Sequence[int]) -> list[int]:
    """Positions in ``cache`` of ``records[i]`` for ``i`` in ``record_idx`` (annotated ones)."""
    index = {rid: n for n, rid in enumerate(cache.ids)}
    return [index[records[i].id] for i in record_idx if records[i].id in index]


def train_corpus(root: str | Path, out: str | Path, config: TrainConfig | None = None, *,
                 fold: int | None = None, k: int = 5, fold_seed: int = 0) -> dict[str, Any]:
    """Train on CirCor and export the model (how the shipped model was made).

    Parameters
    ----------
    root : str or Path
        The CirCor 2022 folder.
    out : str or Path
        ONNX file to write.
    config : TrainConfig, optional
    fold : int, optional
        Train on the folds other than ``fold`` of the shared ``k``-fold split
        (:func:`~.data.fold_indices`, seed ``fold_seed``); default every annotated
        recording.

    Returns
    -------
    dict
        ``out``, ``sha256``, ``epochs``, ``best_val_loss``, ``n_train_recordings``.
    """
    cfg = config or TrainConfig()
    records = circor2022.read(root)
    cache = build_cache(records, copies=cfg.copies, seed=cfg.seed,
                        cache_dir=default_cache_dir())
    extra: dict[str, Any] = {"dataset": "circor2022"}
    if fold is None:
        train_idx = list(range(len(cache.ids)))
        extra["training_data"] = f"all {len(train_idx)} annotated CirCor recordings"
    else:
        if not 0 <= fold < k:
            raise ParameterError(f"fold must be in 0..{k - 1}, got {fold}")
        tr, _ = fold_indices(records, k=k, seed=fold_seed)[fold]
        train_idx = _train_indices(records, cache, tr)
        extra.update({"fold": fold, "k": k,
                      "training_data": f"CirCor folds other than {fold} of {k}"})
    trained = train(cache, train_idx, cfg)
    extra["n_train_patients"] = len({cache.groups[i] for i in train_idx})
    extra["n_train_recordings"] = len(train_idx)
    extra["epochs_run"] = len(trained.history)
    sha = export_onnx(trained, out, extra=extra)
    return {"out": str(out), "sha256": sha, "epochs": len(trained.history),
            "best_val_loss": min(h["val_loss"] for h in trained.history),
            "n_train_recordings": len(train_idx)}


def cross_validate(root: str | Path, out_dir: str | Path, *, k: int = 5, seed: int = 0,
                   folds: Sequence[int] | None = None, config: TrainConfig | None = None
                   ) -> list[dict[str, Any]]:
    """Train one network per CirCor fold on the other folds; write ``fold<i>.onnx``.

    Returns one dict per trained fold: ``fold``, ``path``, ``sha256``, ``history``,
    ``test_ids``.
    """
    cfg = config or TrainConfig()
    records = circor2022.read(root)
    cache = build_cache(records, copies=cfg.copies, seed=cfg.seed,
                        cache_dir=default_cache_dir())
    out = []
    for f, (tr, te) in enumerate(fold_indices(records, k=k, seed=seed)):
        if folds is not None and f not in folds:
            continue
        trained = train(cache, _train_indices(records, cache, tr), cfg)
        path = Path(out_dir) / f"fold{f}.onnx"
        sha = export_onnx(trained, path, extra={"fold": f, "k": k, "fold_seed": seed})
        out.append({"fold": f, "path": str(path), "sha256": sha, "history": trained.history,
                    "test_ids": [records[i].id for i in te]})
        log.info("fold %d written to %s", f, path)
    return out


def _condition_summary(scores: list[dict[str, Any]], tolerance_s: float) -> dict[str, Any]:
    """One condition's pooled scores (:func:`~heartsound.evaluation.segmentation` summary
    at ``tolerance_s``), flattened as the comparison has always reported them."""
    s = next(iter(summary({tolerance_s: scores}).values()))
    return {"f1": s["f1"], "S1_f1": s["S1"]["f1"], "S2_f1": s["S2"]["f1"],
            "sensitivity": s["sensitivity"], "ppv": s["ppv"],
            **{k: s["S1"][k] + s["S2"][k] for k in ("tp", "fp", "fn")},
            "timing_error_ms_median": s["timing_error_ms_median"],
            "n_recordings": len(scores)}


def _springer_training_data(records: Sequence[Any], proto: SpringerSegmenter
                            ) -> dict[int, tuple[list[Any], Any]]:
    """Per annotated record index: springer2016's training matrices (as recorded plus the
    band-limited copy of the shipped recipe) and the 50 Hz reference states, as
    :func:`heartsound.evaluation.segmentation.cross_validate_circor` fits on them."""
    out: dict[int, tuple[list[Any], Any]] = {}
    t0 = time.time()
    for i, r in enumerate(records):
        for it in circor_items([r], segmenter=proto):  # one record at a time: no audio kept
            out[i] = (it["train_features"], it["states"])
        if i in out and len(out) % 200 == 0:
            log.info("springer2016 training features: %d recordings (%.0f s)", len(out),
                     time.time() - t0)
    log.info("springer2016 features (extended=%s, augment_band_hz=%s) of %d recordings",
             proto.extended_features, proto.augment_band_hz, len(out))
    return out


def _wait_for(path: Path, wait_s: float) -> None:
    t0 = time.time()
    while not path.is_file():
        if time.time() - t0 > wait_s:
            raise ParameterError(f"{path} did not appear within {wait_s:.0f} s")
        time.sleep(10)


def _fold_segmenters(f: int, tr: Sequence[int], fold_dir: str | Path, methods: Sequence[str],
                     train_data: dict[int, tuple[list[Any], Any]], wait_s: float
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fold's segmenters by method (the neural fold model, waited for; springer2016
    fitted on the fold's training recordings) and the fold's description."""
    segs: dict[str, Any] = {}
    info: dict[str, Any] = {"fold": f, "model": None, "model_sha256": None,
                            "n_train_recordings": None}
    if "neural" in methods:
        path = Path(fold_dir) / f"fold{f}.onnx"
        _wait_for(path, wait_s)
        segs["neural"] = NeuralSegmenter(model_path=path).load()
        info.update(model=str(path), model_sha256=segs["neural"].model_.sha256)
    if "springer2016" in methods:
        tr_c = [i for i in tr if i in train_data]
        segs["springer2016"] = SpringerSegmenter().fit(
            [x for i in tr_c for x in train_data[i][0]],
            [train_data[i][1] for i in tr_c for _ in train_data[i][0]])
        info["n_train_recordings"] = len(tr_c)
    return segs, info


def _score_fold(records: Sequence[Any], te: Sequence[int], segs: dict[str, Any],
                snrs: Sequence[float | None], keys: Sequence[str], tolerance_s: float,
                f: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per method and condition, the scores of every annotated held-out recording."""
    scores: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {c: [] for c in keys} for m in segs}
    t0 = time.time()
    for n_done, i in enumerate(te):
        if n_done and n_done % 100 == 0:
            log.info("fold %d: %d/%d test recordings (%.0f s)", f, n_done, len(te),
                     time.time() - t0)
        r = records[i]
        rows = read_tsv(r.annotation_path) if r.annotation_path is not None else []
        if not rows:
            continue
        rec = load(r.audio_path)
        for snr, key in zip(snrs, keys):
            y = noisy(rec.y, snr, r.id)
            for m, seg in segs.items():
                sc = score_circor(rows, seg.segment(y, rec.sr).events(), (tolerance_s,))
                sc = dict(sc[tolerance_s], id=r.id)
                scores[m][key].append(sc)
    return scores


def compare_cv(root: str | Path, fold_dir: str | Path, out: str | Path, *, k: int = 5,
               seed: int = 0, snrs: Sequence[float | None] = (None, 20, 10, 5),
               tolerance_s: float = 0.06, wait_s: float = 3600.0,
               methods: Sequence[str] = ("neural", "springer2016")) -> dict[str, Any]:
    """Score the neural fold models and Springer's LR-HSMM on the same CirCor folds.

    For each fold of :func:`heartsound.evaluation.segmentation.circor_folds`, a
    :class:`~heartsound.segmentation.springer.SpringerSegmenter` with default parameters
    (the shipped ``springer2016.json`` recipe) is fitted on the fold's training recordings
    exactly as :func:`heartsound.evaluation.segmentation.cross_validate_circor` does it,
    and the neural model ``fold_dir/fold<f>.onnx`` (from :func:`cross_validate`, trained
    on the same recordings) is loaded; both segment every held-out recording through
    their public ``segment``, clean and with white noise at each SNR in ``snrs``
    (:func:`~.augmentation.noisy`). Results are written to ``out`` (JSON) after each fold; a
    fold model not yet written is waited for.

    Returns
    -------
    dict
        ``folds``: per fold and method, per condition, the pooled summary;
        ``pooled``: the same over all folds.
    """
    records = circor2022.read(root)
    folds = fold_indices(records, k=k, seed=seed)
    proto = SpringerSegmenter()
    train_data = (_springer_training_data(records, proto) if "springer2016" in methods
                  else {})
    keys = ["clean" if s is None else f"{s:g}dB" for s in snrs]
    pooled: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {c: [] for c in keys} for m in methods}
    result: dict[str, Any] = {"k": k, "seed": seed, "tolerance_s": tolerance_s,
                              "conditions": keys,
                              "springer_extended_features": bool(proto.extended_features),
                              "springer_params": proto.get_params(), "folds": []}
    for f, (tr, te) in enumerate(folds):
        segs, info = _fold_segmenters(f, tr, fold_dir, methods, train_data, wait_s)
        t0 = time.time()
        scores = _score_fold(records, te, segs, snrs, keys, tolerance_s, f)
        for m, d in scores.items():
            for c, v in d.items():
                pooled[m][c] += v
        result["folds"].append({
            **info, "n_test_recordings": len(te), "seconds": round(time.time() - t0, 1),
            **{m: {c: _condition_summary(v, tolerance_s) for c, v in d.items()}
               for m, d in scores.items()}})
        result["pooled"] = {m: {c: _condition_summary(v, tolerance_s) for c, v in d.items() if v}
                            for m, d in pooled.items()}
        Path(out).write_text(json.dumps(result, indent=1))
        log.info("fold %d: %s (clean F1)", f, {m: round(result["folds"][-1][m]["clean"]["f1"], 4)
                                                for m in methods})
    return result


def cross_validate_from_args(args: Any) -> int:
    """``heartsound evaluate segmentation --method neural --cv K``: train one network per
    CirCor fold (:func:`cross_validate`, fold models under ``$HEARTSOUND_CACHE``) and score
    it with springer2016 fitted on the same folds (:func:`compare_cv`), clean and with
    white noise at 20, 10 and 5 dB SNR. Prints the pooled and per-fold F1 (JSON with
    ``--json``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    k, seed, tol = int(args.cv or 5), int(args.seed), float(args.tolerance_ms) / 1000.0
    fold_dir = default_cache_dir() / f"neural_cv_k{k}_seed{seed}"
    cross_validate(args.root, fold_dir, k=k, seed=seed)
    res = compare_cv(args.root, fold_dir, fold_dir / "compare.json", k=k, seed=seed,
                     tolerance_s=tol)
    if args.json:
        print(json.dumps(res))
        return 0
    for fo in res["folds"]:
        print(f"fold {fo['fold']}: neural F1 {fo['neural']['clean']['f1']:.4f}, "
              f"springer2016 F1 {fo['springer2016']['clean']['f1']:.4f} "
              f"({fo['n_test_recordings']} recordings)")
    for c in res["conditions"]:
        n, sp = res["pooled"]["neural"][c], res["pooled"]["springer2016"][c]
        print(f"pooled {c}: neural F1 {n['f1']:.4f} (S1 {n['S1_f1']:.4f}, S2 {n['S2_f1']:.4f}), "
              f"springer2016 F1 {sp['f1']:.4f} (S1 {sp['S1_f1']:.4f}, S2 {sp['S2_f1']:.4f})")
    return 0
