"""Training data of the classifiers: the cached front-end features, record keys and
databases, inner validation splits, random crops, augmentation and balanced sampling."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...classification.crops import crops
from ...classification.frontend import FrontendConfig
from ...classification.frontend import features as frontend_features
from ...classification.tasks import patient_target
from ...datasets.splits import grouped_stratified_kfold
from ...example import cache_dir
from ...io import load
from ...segmentation import neural

__all__ = ["feature_cache", "record_key", "database", "split_val", "grouped_folds",
           "augment", "random_crop", "balanced_indices"]


def _cache_dir() -> Path:
    d = cache_dir() / "classifier-features"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _cache_key(frontend: FrontendConfig) -> str:
    ident = frontend.to_dict()
    if frontend.phase_channels:  # the phases depend on the segmenter: a new one, a new cache
        ident["segmenter_sha256"] = neural.load_model().sha256
    return hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]


def _extend_cache(base: Path, recs: Sequence[Any], frontend: FrontendConfig
                  ) -> dict[str, list[int]]:
    """Compute the features of the records not yet in the cache ``base`` (``.npy`` rows
    and a ``.json`` index of row ranges by record id), append them and return the index."""
    index_path = base.with_suffix(".json")
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    missing = [r for r in recs if r.id not in index]
    if not missing:
        return index
    old = (np.load(base.with_suffix(".npy")) if index
           else np.zeros((0, frontend.n_features), np.float32))
    parts, off = [old], old.shape[0]
    for r in missing:
        rec = load(r.audio_path, min_duration_s=0.0)
        m = frontend_features(rec.y, rec.sr, frontend)
        index[r.id] = [off, off + m.shape[0]]
        off += m.shape[0]
        parts.append(m)
    np.save(base.with_suffix(".npy"), np.concatenate(parts))
    index_path.write_text(json.dumps(index))
    return index


def feature_cache(records: Sequence[Any], frontend: FrontendConfig = FrontendConfig()
                  ) -> dict[str, np.ndarray]:
    """Model inputs of every record, computed once and cached on disk.

    Features come from :func:`~heartsound.classification.frontend.features` and are
    cached as ``.npy`` under ``classifier-features/`` of
    :func:`heartsound.example.cache_dir` (``$HEARTSOUND_CACHE``, else
    ``~/.cache/heartsound``), keyed by the front end and, with phase channels, by the
    sha256 of the shipped segmenter that computes them.

    Returns
    -------
    dict
        ``{record_key(r): np.ndarray [shape=(n_frames, n_features), dtype=float32]}``.
    """
    key = _cache_key(frontend)
    out: dict[str, np.ndarray] = {}
    by_corpus: dict[str, list[Any]] = {}
    for r in records:
        by_corpus.setdefault(r.corpus, []).append(r)
    for corpus, recs in by_corpus.items():
        base = _cache_dir() / f"{corpus}_{key}"
        index = _extend_cache(base, recs, frontend)
        arr = np.load(base.with_suffix(".npy"), mmap_mode="r")
        for r in recs:
            a, b = index[r.id]
            out[record_key(r)] = np.asarray(arr[a:b])
    return out


def record_key(r: Any) -> str:
    """``corpus/id``: a record's key in :func:`feature_cache` and in CV outputs."""
    return f"{r.corpus}/{r.id}"


def database(r: Any) -> str:
    """The recording device / site a record comes from: the PhysioNet 2016 database
    letter (``physionet2016/a``...), otherwise the corpus name."""
    if r.corpus == "physionet2016":
        return f"{r.corpus}/{r.labels.get('database')}"
    return str(r.corpus)


def split_val(records: Sequence[Any], targets: Sequence[Any], frac: float, seed: int
              ) -> tuple[list[int], list[int]]:
    """Group-aware stratified inner split: ``frac`` of the groups (``record.group``) of
    each target (at least one), drawn with ``seed``. Returns (train, validation) indices."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.group, []).append(i)
    by_label: dict[str, list[str]] = {}
    for g, idx in groups.items():
        by_label.setdefault(str(targets[idx[0]]), []).append(g)
    val_groups: set[str] = set()
    for _, gs in sorted(by_label.items()):
        gs = sorted(gs)
        rng.shuffle(gs)
        val_groups.update(gs[:max(1, int(round(frac * len(gs))))])
    tr = [i for i, r in enumerate(records) if r.group not in val_groups]
    va = [i for i, r in enumerate(records) if r.group in val_groups]
    return tr, va


def grouped_folds(task: str, recs: Sequence[Any], k: int, seed: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds stratified by the patient target, grouped by ``record.group``."""
    return grouped_stratified_kfold(recs, labels=[str(patient_target(task, r)) for r in recs],
                                    groups=[r.group for r in recs], n_splits=k, seed=seed)


def augment(x: np.ndarray, rng: np.random.Generator, n_mels: int | None = None
            ) -> np.ndarray:
    """Random spectral augmentation of a batch of crops.

    Gain/tilt change (a random linear spectral tilt across Mel bins, i.e. a different
    stethoscope response), band-limit (random top bands attenuated) and SpecAugment-style
    time and frequency masks, on the first ``n_mels`` columns (default all); further
    columns (phase channels) are left as they are.

    Parameters
    ----------
    x : np.ndarray [shape=(batch, frames, n_features), dtype=float32]
    rng : np.random.Generator
    n_mels : int, optional

    Returns
    -------
    np.ndarray [shape=x.shape]
        A copy; ``x`` is unchanged.
    """
    out = x.copy()
    x = out[:, :, :n_mels]  # a view: the changes below land in ``out``
    b, t, f = x.shape
    tilt = rng.normal(0, 0.3, size=(b, 1, 1)) * np.linspace(-1, 1, f)[None, None, :]
    x += tilt.astype(np.float32)
    for i in range(b):
        if rng.random() < 0.3:  # band limit: device with a lower cut-off
            cut = int(rng.integers(f // 2, f))
            x[i, :, cut:] = x[i, :, cut:].min()
        if rng.random() < 0.5:
            w = int(rng.integers(1, f // 8))
            s = int(rng.integers(0, f - w))
            x[i, :, s:s + w] = 0.0
        if rng.random() < 0.5:
            w = int(rng.integers(1, t // 8))
            s = int(rng.integers(0, t - w))
            x[i, s:s + w, :] = 0.0
    return out


def random_crop(feat: np.ndarray, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``[n_frames, n_features]`` window of ``feat``; shorter recordings are
    padded as at inference (:func:`~heartsound.classification.crops.crops`)."""
    n = feat.shape[0]
    if n <= n_frames:
        return crops(feat, FrontendConfig(crop_frames=n_frames, crop_hop=n_frames))[0][0]
    s = int(rng.integers(0, n - n_frames + 1))
    return feat[s:s + n_frames]


def balanced_indices(domains: Sequence[str], y: np.ndarray, n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` indices (with replacement) so that every (domain, class) cell present
    has the same expected count ``n / n_cells``.

    Parameters
    ----------
    domains : sequence of str [shape=(n_records,)]
        Domain (database) of each record.
    y : np.ndarray [shape=(n_records,)]
        Class index of each record.
    n : int
        Number of indices to draw.
    rng : np.random.Generator

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    cells = [f"{d}\x00{int(c)}" for d, c in zip(domains, y)]
    names, inv, counts = np.unique(cells, return_inverse=True, return_counts=True)
    p = 1.0 / (len(names) * counts[inv])
    return rng.choice(len(cells), size=n, p=p / p.sum())
