"""Per-recording logit and attention-pooled embedding of each leave-one-database-out
fold model (``scripts/calibration_lodo_models.py``) on its held-out PhysioNet database,
as they are and with per-band input normalisation to the site's statistics.

    python scripts/calibration_embeddings.py LODO_DIR [--databases a b e f c d]

For each ``LODO_DIR/lodo_<db>.onnx`` writes ``LODO_DIR/emb_<db>.npz``: ``ids``, ``y``
(abnormal), ``logp`` [n, 2] (mean crop log-probabilities), ``emb`` [n, 2 * C] (the
attention-pooled vectors of both classes, mean over crops,
:func:`heartsound.calibration.embedding.recording_embedding`), ``band_sd`` [n, 64] (each
Mel band's standard deviation over time of the model input), ``logp_bn``/``emb_bn`` the
same with every Mel band of the input scaled by ``sqrt(ref / site)`` (``ref``: the mean
per-band variance of the fold's training recordings; ``site``: of the held-out database,
all its recordings, unlabelled: an upper bound of what k recordings can estimate),
``threshold`` (the fold's own).

With ``--honest-draws R`` it also writes ``LODO_DIR/bn_draws_<db>.npz``: for the first R
stratified draws of k recordings at each k of ``--honest-ks`` (the same draws, in the
same random sequence, as ``scripts/calibration_adapt_lodo.py`` with the same
``--seed``/``--draws``/``--min-test``), the drawn indices ``k<k>_idx`` [R, k] and the
logits ``k<k>_z`` [R, n] of every recording with the site's per-band statistics taken
from the drawn recordings only (what ``heartsound calibrate`` can know).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from heartsound.calibration.embedding import add_embedding_output, recording_embedding
from heartsound.calibration.fitting import stratified_draw
from heartsound.classification.frontend import FrontendConfig
from heartsound.classification.tasks import patient_target
from heartsound.datasets import find_corpora, read
from heartsound.evaluation.classification import binary_auc, lodo_folds
from heartsound.training.classifier.data import feature_cache, record_key


def session(path: Path) -> tuple[ort.InferenceSession, FrontendConfig, dict]:
    m = onnx.load(str(path))
    meta = json.loads({p.key: p.value for p in m.metadata_props}["heartsound"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(add_embedding_output(m).SerializeToString(), so)
    return s, FrontendConfig(**meta["frontend"]), meta


def band_var(f: np.ndarray, n_mels: int) -> np.ndarray:
    """Per-band variance over time of the Mel columns of one recording's input."""
    return np.asarray(f[:, :n_mels], np.float64).var(axis=0)


def run_site(s: ort.InferenceSession, fe: FrontendConfig, feats: list[np.ndarray],
             scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    def run(b: np.ndarray) -> list[np.ndarray]:
        return s.run(None, {"features": b})

    lps, embs = [], []
    for f in feats:
        if scale is not None:
            f = np.array(f, np.float32)
            f[:, :fe.n_mels] *= scale.astype(np.float32)
        lp, e = recording_embedding(run, f, fe)
        lps.append(lp)
        embs.append(e)
    return np.array(lps), np.array(embs)


def honest_draws(s: ort.InferenceSession, fe: FrontendConfig, feats: list[np.ndarray],
                 ref: np.ndarray, y: np.ndarray, a: argparse.Namespace) -> dict[str, np.ndarray]:
    """Logits of every recording with the per-band scale estimated from each of the
    first ``a.honest_draws`` draws at the k of ``a.honest_ks``."""
    var = np.array([band_var(f, fe.n_mels) for f in feats])
    rng = np.random.default_rng(a.seed)
    out: dict[str, np.ndarray] = {}
    for k in (10, 25, 50, 100):  # the sequence of calibration_adapt_lodo.evaluate
        if len(y) - k < a.min_test:
            continue
        idx, zs = [], []
        for r in range(a.draws):
            tr = stratified_draw(y, k, rng)
            if k in a.honest_ks and r < a.honest_draws:
                lp, _ = run_site(s, fe, feats, np.sqrt(ref / var[tr].mean(axis=0)))
                idx.append(tr)
                zs.append(lp[:, 1] - lp[:, 0])
        if idx:
            out[f"k{k}_idx"], out[f"k{k}_z"] = np.array(idx), np.array(zs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lodo_dir")
    ap.add_argument("--databases", nargs="+", default=["a", "b", "e", "f", "c", "d"])
    ap.add_argument("--honest-draws", type=int, default=0, metavar="R")
    ap.add_argument("--honest-ks", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--only-honest", action="store_true",
                    help="skip the emb_<db>.npz outputs (already written)")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--min-test", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    root = os.environ.get("HEARTSOUND_DATA", "../shared/data")
    found = find_corpora([root])
    recs = [r for c in ("physionet2016", "circor2022") for r in read(c, found[c])]
    recs = [r for r in recs if patient_target("abnormal", r) is not None]
    folds = lodo_folds("abnormal", recs)
    dbs = sorted({str(r.labels.get("database")) for r in recs if r.corpus == "physionet2016"})
    d = Path(a.lodo_dir)
    for db in a.databases:
        if not (d / f"lodo_{db}.onnx").exists():
            continue
        s, fe, meta = session(d / f"lodo_{db}.onnx")
        tr, te = folds[dbs.index(db)]
        cache = feature_cache(recs, fe)
        te_feats = [cache[record_key(recs[i])] for i in te]
        ref = np.mean([band_var(cache[record_key(recs[i])], fe.n_mels) for i in tr], axis=0)
        site = np.mean([band_var(f, fe.n_mels) for f in te_feats], axis=0)
        scale = np.sqrt(ref / site)
        y = np.array([patient_target("abnormal", recs[i]) == "abnormal" for i in te])
        if a.honest_draws:
            np.savez(d / f"bn_draws_{db}.npz", **honest_draws(s, fe, te_feats, ref, y, a))
        if a.only_honest:
            continue
        lp, emb = run_site(s, fe, te_feats, None)
        lp_bn, emb_bn = run_site(s, fe, te_feats, scale)
        np.savez(d / f"emb_{db}.npz", ids=np.array([record_key(recs[i]) for i in te]), y=y,
                 logp=lp, emb=emb, logp_bn=lp_bn, emb_bn=emb_bn,
                 band_sd=np.sqrt([band_var(f, fe.n_mels) for f in te_feats]),
                 scale=scale, threshold=float(meta["rules"]["threshold"]))
        z, z_bn = lp[:, 1] - lp[:, 0], lp_bn[:, 1] - lp_bn[:, 0]
        print(json.dumps({"database": db, "n": len(y), "auc": binary_auc(y, z),
                          "auc_band_normalised": binary_auc(y, z_bn),
                          "scale_min_max": [float(scale.min()), float(scale.max())]}),
              flush=True)


if __name__ == "__main__":
    main()
