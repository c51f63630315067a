"""Training data of the neural segmenter: features and 50 Hz state labels of every
annotated CirCor recording (clean and augmented copies, cached on disk), the shared
patient-independent folds, random training windows and the S1/S2 duration statistics."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...datasets.circor2022 import read_tsv
from ...errors import DatasetError
from ...evaluation.segmentation import circor_folds
from ...io import load
from ...segmentation.hsmm import SOUND_DURATIONS_S
from ...segmentation.neural import neural_features
from ...segmentation.result import rows_to_states
from ...vocab import DIASTOLE, FRAME_RATE, N_STATES, NEURAL_BANDS_HZ, S1, S2
from .augmentation import augment

__all__ = ["FeatureCache", "build_cache", "fold_indices", "sample_windows",
           "sound_durations"]

log = logging.getLogger(__name__)


@dataclass
class FeatureCache:
    """Features and labels of every annotated recording, ``1 + copies`` versions each.

    ``feats[i][c]`` is ``[n_frames, n_features]`` float32 and ``labels[i][c]`` the state
    per frame (0-4) of record ``ids[i]``, version ``c`` (0 = clean).
    """

    ids: list[str]
    groups: list[str]
    feats: list[list[np.ndarray]]
    labels: list[list[np.ndarray]]


def _record_versions(audio: str, tsv: str, rid: str, copies: int, seed: int
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Features and labels of one recording, clean then ``copies`` augmented versions
    (seeded by ``seed`` and the record id, so the copies do not depend on the fold)."""
    rec = load(audio)
    rows = read_tsv(tsv)
    digest = int(hashlib.sha256(f"{seed}:{rid}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng(digest)
    feats, labels = [], []
    for c in range(1 + copies):
        y, stretch = (rec.y, 1.0) if c == 0 else augment(rec.y, rec.sr, rng)
        if not np.any(y) or not np.all(np.isfinite(y)):
            continue
        x, _ = neural_features(y, rec.sr)
        lab = rows_to_states([(a * stretch, b * stretch, s) for a, b, s in rows],
                             FRAME_RATE, x.shape[0])
        feats.append(x.astype(np.float32))
        labels.append(lab.astype(np.int8))
    return feats, labels


def _read_cache(path: Path) -> FeatureCache:
    z = np.load(path, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    feats_all, labels_all = z["feats"], z["labels"]
    off = 0
    feats, labels = [], []
    for lens in meta["lengths"]:
        fr, lr = [], []
        for n in lens:
            fr.append(feats_all[off:off + n])
            lr.append(labels_all[off:off + n])
            off += n
        feats.append(fr)
        labels.append(lr)
    log.info("read feature cache %s", path)
    return FeatureCache(meta["ids"], meta["groups"], feats, labels)


def _write_cache(path: Path, cache: FeatureCache) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"ids": cache.ids, "groups": cache.groups,
            "lengths": [[len(x) for x in f] for f in cache.feats]}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, feats=np.concatenate([x for f in cache.feats for x in f]),
             labels=np.concatenate([x for f in cache.labels for x in f]),
             meta=np.array(json.dumps(meta)))
    tmp.replace(path)


def build_cache(records: Sequence[Any], *, copies: int = 5, seed: int = 0,
                cache_dir: Path | None = None) -> FeatureCache:
    """Compute (or read from ``cache_dir``) features of every annotated record.

    Parameters
    ----------
    records : sequence of Record
        CirCor records (:func:`heartsound.datasets.circor2022.read`); records without an
        annotation are skipped.
    copies : int
        Augmented versions per recording besides the clean one.
    seed : int
        Seed of the augmentation (per record, so the copies do not depend on the fold).
    cache_dir : Path or None
        Folder for the ``.npz`` cache; None disables caching.
    """
    recs = [r for r in records if r.annotation_path is not None]
    if not recs:
        raise DatasetError("no annotated recordings to train the segmenter on")
    # integral band edges as ints, as in the first caches (their keys stay valid)
    bands = [[int(v) if float(v).is_integer() else v for v in b] for b in NEURAL_BANDS_HZ]
    key = hashlib.sha256(json.dumps([[r.id for r in recs], copies, seed, bands, 2]
                                    ).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"segmenter_{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        return _read_cache(path)
    t0 = time.time()
    feats, labels = [], []
    for k, r in enumerate(recs):
        f, lab = _record_versions(str(r.audio_path), str(r.annotation_path), r.id, copies,
                                  seed)
        feats.append(f)
        labels.append(lab)
        if (k + 1) % 100 == 0:
            log.info("features: %d/%d recordings (%.0f s)", k + 1, len(recs), time.time() - t0)
    cache = FeatureCache([r.id for r in recs], [r.group for r in recs], feats, labels)
    if path is not None:
        _write_cache(path, cache)
        log.info("wrote feature cache %s (%.0f s)", path, time.time() - t0)
    return cache


def fold_indices(records: Sequence[Any], k: int = 5, seed: int = 0
                 ) -> list[tuple[list[int], list[int]]]:
    """``(train, test)`` record indices of the shared patient-independent CirCor folds
    (:func:`heartsound.evaluation.segmentation.circor_folds`)."""
    return [([int(i) for i in tr], [int(i) for i in te])
            for tr, te in circor_folds(list(records), k=k, seed=seed)]


def sample_windows(cache: FeatureCache, idx: np.ndarray, n: int, win: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random windows of ``win`` frames around annotated frames of records ``idx``.

    Returns
    -------
    x : np.ndarray [shape=(n, win, n_features), dtype=float32]
        Zero-padded where a window passes the recording's ends.
    y : np.ndarray [shape=(n, win), dtype=int64]
        State index 0-3 (S1, systole, S2, diastole); -100 where unannotated or padded.
    """
    nf = cache.feats[0][0].shape[1]
    x = np.zeros((n, win, nf), np.float32)
    y = np.full((n, win), -100, np.int64)
    for b in range(n):
        i = int(rng.choice(idx))
        c = int(rng.integers(len(cache.feats[i])))
        f, lab = cache.feats[i][c], cache.labels[i][c]
        ann = np.flatnonzero(lab > 0)
        centre = int(rng.choice(ann)) if ann.size else f.shape[0] // 2
        start = centre - int(rng.integers(win))
        start = int(np.clip(start, min(0, f.shape[0] - win), max(0, f.shape[0] - win)))
        lo, hi = max(start, 0), min(start + win, f.shape[0])
        x[b, lo - start:hi - start] = f[lo:hi]
        seg = lab[lo:hi].astype(np.int64) - 1
        seg[seg < 0] = -100
        y[b, lo - start:hi - start] = seg
    return x, y


def state_priors(cache: FeatureCache, idx: Sequence[int]) -> list[float]:
    """Share of each state among the annotated clean frames of records ``idx``."""
    counts = sum(np.bincount(cache.labels[i][0], minlength=N_STATES + 1)[S1:DIASTOLE + 1]
                 for i in idx)
    return (counts / counts.sum()).round(5).tolist()


def sound_durations(labels: Sequence[np.ndarray], frame_rate: float = FRAME_RATE
                    ) -> dict[str, list[float]]:
    """Mean and SD (s) of the S1 and S2 runs enclosed by annotated neighbours; the
    decoder's defaults (:data:`~heartsound.segmentation.hsmm.SOUND_DURATIONS_S`) with
    fewer than 20 runs."""
    runs: dict[int, list[int]] = {S1: [], S2: []}
    for lab in labels:
        s = np.asarray(lab).astype(int)
        if s.size < 3:
            continue
        change = np.flatnonzero(np.diff(s)) + 1
        starts = np.r_[0, change]
        ends = np.r_[change, s.size]
        for k in range(1, len(starts) - 1):
            st = s[starts[k]]
            if st in runs and s[starts[k - 1]] != 0 and s[ends[k]] != 0:
                runs[st].append(int(ends[k] - starts[k]))
    out = {}
    for name, code in (("S1", S1), ("S2", S2)):
        d = np.asarray(runs[code], dtype=float) / frame_rate
        out[name] = ([round(float(d.mean()), 5), round(float(max(d.std(), 1 / frame_rate)), 5)]
                     if d.size >= 20 else list(SOUND_DURATIONS_S[name]))
    return out
