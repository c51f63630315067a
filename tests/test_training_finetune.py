"""Fine-tuning a trained classifier on a new site's labelled recordings
(:func:`heartsound.training.classifier.finetune_network`)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from heartsound.datasets.base import Record
from heartsound.errors import ParameterError

torch = pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from heartsound.training import classifier as tc  # noqa: E402

SR = 2000


def _records(tmp_path: Path, rng: np.random.Generator, db: str, noisy_label: str,
             n: int = 8) -> list[Record]:
    """Half abnormal, half normal; the ``noisy_label`` class is the noisy one."""
    out = []
    t = np.arange(4 * SR) / SR
    for i in range(n):
        lab = "abnormal" if i % 2 else "normal"
        y = np.sin(2 * np.pi * 50 * t) * (np.mod(t, 0.8) < 0.1)
        y = y + (0.6 if lab == noisy_label else 0.01) * rng.standard_normal(t.size)
        path = tmp_path / f"{db}{i:04d}.wav"
        sf.write(path, (0.5 * y / np.abs(y).max()).astype(np.float32), SR)
        out.append(Record(id=f"{db}{i:04d}", corpus="physionet2016", audio_path=path,
                          group=f"{db}{i:04d}", label=lab, labels={"database": db}))
    return out


@pytest.fixture
def site(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    cfg = tc.TrainConfig(widths=(4, 4, 4, 4), crops_per_recording=1, augment=False)
    tgt = _records(tmp_path, rng, "a", "abnormal")
    src = _records(tmp_path, rng, "e", "abnormal", n=4)
    torch.manual_seed(0)
    net = tc.build_model(cfg)
    return cfg, net, tgt, src, tc.feature_cache(tgt + src, cfg.frontend)


def _p_true(net, cfg, recs, feats) -> np.ndarray:
    p = tc.predict_records(net, recs, cfg, feats)
    return np.array([p[i, int(r.label == "abnormal")] for i, r in enumerate(recs)])


def test_finetune_learns_the_target_and_leaves_the_input_network_alone(site):
    cfg, net, tgt, src, feats = site
    before = {k: v.clone() for k, v in net.state_dict().items()}
    p0 = _p_true(net, cfg, tgt, feats)
    out = tc.finetune_network(net, cfg, tgt, feats, replay=src, epochs=40, lr=0.02)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    p1 = _p_true(out, cfg, tgt, feats)
    # the target's classes are separable (noise level): after fine-tuning every target
    # recording's own class is more probable than before, and called right
    assert p1.mean() > p0.mean() + 0.1
    assert (p1 > 0.5).all()
    assert not out.training


def test_finetune_trains_only_the_named_parameters_and_is_seeded(site):
    cfg, net, tgt, src, feats = site
    out = tc.finetune_network(net, cfg, tgt, feats, replay=src, epochs=2, lr=0.01,
                              trainable=("head",), seed=3)
    again = tc.finetune_network(net, cfg, tgt, feats, replay=src, epochs=2, lr=0.01,
                                trainable=("head",), seed=3)
    old, new = net.state_dict(), out.state_dict()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    # frozen layers keep their batch-norm statistics too (only the counter moves)
    assert changed and all(k.startswith("head.") or k.endswith("num_batches_tracked")
                           for k in changed)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in new.items())


def test_finetune_draws_balanced_target_and_replay_epochs(site, monkeypatch):
    cfg, net, tgt, src, feats = site
    spy = mock.Mock(wraps=tc.balanced_indices)
    monkeypatch.setattr(tc.finetune, "balanced_indices", spy)
    tc.finetune_network(net, cfg, tgt, feats, replay=src, epochs=3)
    assert spy.call_count == 3
    domains, y, n, _ = spy.call_args_list[0].args
    assert n == 2 * len(tgt)
    assert domains == ["target"] * len(tgt) + ["replay"] * len(src)
    assert y.tolist() == [int(r.label == "abnormal") for r in tgt + src]


def test_finetune_rejects_one_class_no_parameters_and_no_epochs(site):
    cfg, net, tgt, _, feats = site
    normal = [r for r in tgt if r.label == "normal"]
    with pytest.raises(ParameterError, match="two"):
        tc.finetune_network(net, cfg, normal, feats)
    with pytest.raises(ParameterError, match="epochs"):
        tc.finetune_network(net, cfg, tgt, feats, epochs=0)
    with pytest.raises(ParameterError, match="nothing"):
        tc.finetune_network(net, cfg, tgt, feats, trainable=("nothing",))
