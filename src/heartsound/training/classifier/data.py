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
           "augment", "device_curve", "device_response", "random_crop", "balanced_indices"]


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


#: Largest gain (dB, either sign) of a simulated stethoscope response curve.
DEVICE_MAX_DB = 6.0


def device_curve(n_bins: int, rng: np.random.Generator, max_db: float = DEVICE_MAX_DB
                 ) -> np.ndarray:
    """A random smooth stethoscope response across the Mel bins, in dB.

    A low shelf, a high shelf and one to three Gaussian bumps (each of random sign and
    size, corners and centres anywhere on the Mel axis), scaled down if needed so that
    the largest absolute gain is at most ``max_db``.

    Parameters
    ----------
    n_bins : int
        Number of Mel bins.
    rng : np.random.Generator
    max_db : float

    Returns
    -------
    np.ndarray [shape=(n_bins,), dtype=float64]
        Gain per bin in dB, ``|gain| <= max_db``.
    """
    u = np.linspace(0.0, 1.0, n_bins)
    low = rng.uniform(-max_db, max_db)  # draw order: amplitude, corner, width
    g = low / (1.0 + np.exp((u - rng.uniform(0.1, 0.4)) / rng.uniform(0.03, 0.1)))
    high = rng.uniform(-max_db, max_db)
    g += high / (1.0 + np.exp((rng.uniform(0.5, 0.9) - u) / rng.uniform(0.03, 0.1)))
    for _ in range(int(rng.integers(1, 4))):
        bump = rng.uniform(-max_db, max_db)
        g += bump * np.exp(-0.5 * ((u - rng.uniform()) / rng.uniform(0.05, 0.2)) ** 2)
    peak = np.abs(g).max()
    return g * (max_db / peak) if peak > max_db else g


def device_response(x: np.ndarray, rng: np.random.Generator, p: float,
                    n_mels: int | None = None, max_db: float = DEVICE_MAX_DB) -> np.ndarray:
    """Simulate a different stethoscope on a batch of normalised log-Mel crops.

    With ``normalize="recording_bins"`` each band's mean over the recording is removed,
    so a device's gain curve, added to the log spectrum, drops out at inference; what a
    different response leaves is how much each band moves over time (a band the device
    attenuates towards its noise floor varies less in the log domain). Each crop is
    therefore, with probability ``p``, given a random smooth curve
    (:func:`device_curve`) applied to each band's deviation from its mean over the crop
    as an amplitude factor ``10 ** (gain / 20)``; the deviations are then rescaled to
    their former overall standard deviation (the recording's one-std normalisation). The
    band means, and the columns after ``n_mels`` (phase channels), are unchanged.

    Parameters
    ----------
    x : np.ndarray [shape=(batch, frames, n_features), dtype=float32]
    rng : np.random.Generator
        Not drawn from when ``p == 0``.
    p : float
        Probability per crop, in [0, 1].
    n_mels : int, optional
        Mel columns (default all).
    max_db : float

    Returns
    -------
    np.ndarray [shape=x.shape]
        A copy; ``x`` is unchanged.
    """
    out = x.copy()
    if p <= 0:
        return out
    mel = out[:, :, :n_mels]  # a view: the changes below land in ``out``
    for i in range(mel.shape[0]):
        if rng.random() >= p:
            continue
        scale = 10.0 ** (device_curve(mel.shape[2], rng, max_db) / 20.0)
        m = mel[i].mean(axis=0, keepdims=True)
        dev = mel[i] - m
        new = dev * scale[None, :]
        sd_old, sd_new = dev.std(), new.std()
        if sd_new > 0:
            mel[i] = m + new * (sd_old / sd_new)
    return out


def augment(x: np.ndarray, rng: np.random.Generator, n_mels: int | None = None,
            device: float = 0.0) -> np.ndarray:
    """Random spectral augmentation of a batch of crops.

    Gain/tilt change (a random linear spectral tilt across Mel bins, i.e. a different
    stethoscope response), band-limit (random top bands attenuated) and SpecAugment-style
    time and frequency masks, on the first ``n_mels`` columns (default all); further
    columns (phase channels) are left as they are. With ``device > 0`` each crop is
    first, with that probability, given a simulated stethoscope response
    (:func:`device_response`); with ``device == 0`` the random draws, and so the result,
    are those without the option.

    Parameters
    ----------
    x : np.ndarray [shape=(batch, frames, n_features), dtype=float32]
    rng : np.random.Generator
    n_mels : int, optional
    device : float
        Probability per crop of a simulated stethoscope response (0: off).

    Returns
    -------
    np.ndarray [shape=x.shape]
        A copy; ``x`` is unchanged.
    """
    out = device_response(x, rng, device, n_mels) if device > 0 else x.copy()
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
