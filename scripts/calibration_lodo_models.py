"""Re-run the leave-one-database-out training of the shipped abnormal recipe and keep,
per held-out PhysioNet database, the fold's model as ONNX and its test probabilities,
so site adaptations that need the model itself (head refit on the embedding, per-band
input normalisation) can be evaluated (``scripts/calibration_adapt_lodo.py``).

Usage (from the repository root, HEARTSOUND_DATA and PYTHONPATH set, OMP_NUM_THREADS=1)::

    python scripts/calibration_lodo_models.py docs/results/abnormal_lodo_bigru_phase.json \
        OUTDIR [--databases a b e f] [--device-augment P] [--json RUN.json] \
        [--keep-torch DIR]

writes ``OUTDIR/lodo_<db>.onnx`` and ``OUTDIR/lodo_<db>.npz`` (``test_ids``, ``probs``,
``val_ids``, ``val_probs``, ``threshold``, ``epochs``) and prints, per fold, how close
the re-run's probabilities are to the stored run's (same seed; the stored run's
``max_minutes`` wall-clock cap made its epoch count depend on the machine's speed, so
by default each fold runs exactly the stored fold's number of epochs, uncapped). ``--device-augment P`` trains the same
recipe with the simulated stethoscope response on (TrainConfig ``device_augment``);
``--json`` also writes the held-out probabilities in the format of
``docs/results/abnormal_lodo_*.json`` (``folds`` with ``fold``, ``test_ids``, ``probs``,
``truth``, ``rules``, ``epochs``, ``val_ids``, ``val_probs``), which
``scripts/calibration_recipes.py`` reads. ``--keep-torch DIR`` also keeps each fold's
torch model (``DIR/lodo_<db>.pt``) for ``scripts/finetune_lodo.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from heartsound.cli.train import _classifier_config, _read, _resolve_roots
from heartsound.classification.tasks import patient_target
from heartsound.evaluation.classification import binary_auc, lodo_folds
from heartsound.training import classifier as tc
from heartsound.training.classifier.data import feature_cache, record_key

#: stored args that are not training options
_SKIP = {"verbose", "command", "what", "root", "corpora", "cv", "lodo", "jobs", "out",
         "half_weights", "json", "folds"}


def stored_argv(args: dict) -> list[str]:
    """The ``heartsound train classifier`` options of a stored CV run's ``args``."""
    argv: list[str] = []
    for k, v in args.items():
        if k in _SKIP or v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        if k == "no_attention" or k == "no_augment":
            argv += [flag] if v else []
        elif v is True:
            argv.append(flag)
        elif isinstance(v, list):
            argv += [flag] + [str(x) for x in v]
        else:
            argv += [flag, str(v)]
    return argv


def save_torch(m: tc.Trained, path: Path, db: str, train_ids: list[str]) -> None:
    """Write a fold's network for later fine-tuning: ``state_dict``, ``config`` (the
    :class:`~heartsound.training.classifier.TrainConfig`), ``rules``, ``heldout``,
    ``train_ids`` (the fold's training records, inner validation included) and
    ``val_ids``."""
    from heartsound.training.runtime import import_torch
    torch = import_torch()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": m.model.state_dict(), "config": m.config, "rules": m.rules,
                "heldout": db, "train_ids": train_ids, "val_ids": list(m.val_ids),
                "epochs": len(m.history)}, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cv_json")
    ap.add_argument("outdir")
    ap.add_argument("--databases", nargs="+", default=["a", "b", "e", "f", "c", "d"])
    ap.add_argument("--free-epochs", action="store_true",
                    help="keep the recipe's epoch limit and wall-clock cap (default: run "
                         "exactly the stored fold's number of epochs, uncapped, which "
                         "reproduces it when the code is unchanged)")
    ap.add_argument("--device-augment", type=float, default=0.0, metavar="P",
                    help="train with this probability of a simulated stethoscope response "
                         "per crop (default 0: the stored recipe)")
    ap.add_argument("--json", help="also write the folds in the LODO run JSON format")
    ap.add_argument("--keep-torch", metavar="DIR",
                    help="also save each fold's torch model as DIR/lodo_<db>.pt (state_dict, "
                         "TrainConfig, rules, training and validation record keys), for "
                         "fine-tuning (scripts/finetune_lodo.py); keep it outside the repo")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stored = json.loads(Path(a.cv_json).read_text())
    from heartsound.cli.train import add_classifier_arguments
    p = argparse.ArgumentParser()
    add_classifier_arguments(p)
    targs = p.parse_args(stored_argv(stored["args"]))
    cfg = _classifier_config(targs)
    hyper = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    task, seed = hyper.pop("task"), hyper.pop("seed")
    hyper["device_augment"] = a.device_augment
    run_folds: list[dict] = []
    root = os.environ.get("HEARTSOUND_DATA", "../shared/data")
    recs = _read(("physionet2016", "circor2022"), _resolve_roots([root]))
    recs = [r for r in recs if patient_target(task, r) is not None]
    folds = lodo_folds(task, recs)
    dbs = sorted({str(r.labels.get("database")) for r in recs if r.corpus == "physionet2016"})
    feats = feature_cache(recs, cfg.frontend)
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    old = {f["fold"]: f for f in stored["folds"]}
    for db in a.databases:
        fi = dbs.index(db)
        tr, te = folds[fi]
        te_recs = [recs[i] for i in te]
        o = old[fi]
        fold_hyper = dict(hyper)
        if not a.free_epochs:  # the stored run's epochs, without the wall-clock cap
            fold_hyper.update(max_epochs=int(o["epochs"]), max_minutes=1e9)
        m = tc.train(task=task, train_records=[recs[i] for i in tr], features=feats,
                     seed=seed, **fold_hyper)
        probs = m.predict(te_recs, feats)
        by_key = {record_key(r): r for r in recs}
        val_probs = m.predict([by_key[v] for v in m.val_ids], feats)
        tc.export_onnx(m, out / f"lodo_{db}.onnx", extra={"lodo_heldout": db})
        ids = [record_key(r) for r in te_recs]
        if a.keep_torch:
            save_torch(m, Path(a.keep_torch) / f"lodo_{db}.pt", db,
                       [record_key(recs[i]) for i in tr])
        np.savez(out / f"lodo_{db}.npz", test_ids=np.array(ids), probs=probs,
                 val_ids=np.array(m.val_ids), val_probs=val_probs,
                 threshold=m.rules.get("threshold", 0.5), epochs=len(m.history))
        po = np.asarray(o["probs"])[:, 1]
        y = np.array([patient_target(task, r) == "abnormal" for r in te_recs])
        run_folds.append({"fold": fi, "test_ids": ids, "probs": probs.tolist(),
                          "truth": [patient_target(task, r) for r in te_recs],
                          "rules": m.rules, "epochs": len(m.history),
                          "val_ids": list(m.val_ids), "val_probs": val_probs.tolist()})
        if a.json:  # after every fold, so a run stopped early keeps what finished
            Path(a.json).write_text(json.dumps(
                {"args": {**stored["args"], "device_augment": a.device_augment,
                          "json": Path(a.json).name}, "folds": run_folds}))
        print(json.dumps({"database": db, "epochs": len(m.history),
                          "stored_epochs": o["epochs"], "rules": m.rules,
                          "stored_rules": o["rules"], "same_ids": ids == o["test_ids"],
                          "max_abs_diff": float(np.abs(probs[:, 1] - po).max()),
                          "corr": float(np.corrcoef(probs[:, 1], po)[0, 1]),
                          "auc": binary_auc(y, probs[:, 1]),
                          "stored_auc": binary_auc(y, po)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
