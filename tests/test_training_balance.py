"""Database-balanced sampling of training recordings (``TrainConfig.balance``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heartsound.datasets.base import Record
from heartsound.errors import ParameterError

pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from heartsound.training import classifier as tc  # noqa: E402

SR = 2000


def test_balanced_indices_give_every_cell_the_same_share(rng):
    # four (domain, class) cells of very different sizes
    domains = ["a"] * 100 + ["a"] * 10 + ["b"] * 5 + ["c"] * 1
    y = np.array([0] * 100 + [1] * 10 + [0] * 5 + [1] * 1)
    idx = tc.balanced_indices(domains, y, 40000, rng)
    assert idx.shape == (40000,) and idx.min() >= 0 and idx.max() < len(y)
    cell = np.array([f"{d}{c}" for d, c in zip(domains, y)])[idx]
    for name in ("a0", "a1", "b0", "c1"):
        assert np.mean(cell == name) == pytest.approx(0.25, abs=0.01)
    # within a cell, recordings are drawn uniformly
    counts = np.bincount(idx[idx < 100], minlength=100)
    assert counts.min() > 0.5 * counts.mean()


def test_balanced_indices_are_seeded():
    d, y = ["a", "a", "b"], np.array([0, 1, 0])
    a = tc.balanced_indices(d, y, 50, np.random.default_rng(3))
    b = tc.balanced_indices(d, y, 50, np.random.default_rng(3))
    assert np.array_equal(a, b)


def test_database_of_a_record():
    pn = Record(id="e00001", corpus="physionet2016", audio_path=Path("x.flac"), group="e00001",
                label="normal", labels={"database": "e"})
    cc = Record(id="1_AV", corpus="circor2022", audio_path=Path("x.wav"), group="1",
                label="Absent", labels={})
    assert tc.database(pn) == "physionet2016/e"
    assert tc.database(cc) == "circor2022"


def test_bad_balance_raises_and_is_stored_only_when_set():
    with pytest.raises(ParameterError, match="database"):
        tc.TrainConfig(balance="corpus")
    with pytest.raises(ParameterError, match="exclusive"):
        tc.TrainConfig(balance="database", upsample=True)
    assert "balance" not in tc.TrainConfig().to_dict()
    assert tc.TrainConfig(balance="database").to_dict()["balance"] == "database"


def _records(tmp_path: Path, rng: np.random.Generator) -> list[Record]:
    """PhysioNet-like records from two databases with opposite class priors."""
    out = []
    t = np.arange(5 * SR) / SR
    spec = [("a", "abnormal")] * 6 + [("a", "normal")] * 2 + [("e", "normal")] * 6 \
        + [("e", "abnormal")] * 2
    for i, (db, lab) in enumerate(spec):
        y = np.sin(2 * np.pi * 50 * t) * (np.mod(t, 0.8) < 0.1)
        y = y + (0.5 if lab == "abnormal" else 0.01) * rng.standard_normal(t.size)
        path = tmp_path / f"{db}{i:04d}.wav"
        sf.write(path, (0.5 * y / np.abs(y).max()).astype(np.float32), SR)
        out.append(Record(id=f"{db}{i:04d}", corpus="physionet2016", audio_path=path,
                          group=f"{db}{i:04d}", label=lab, labels={"database": db}))
    return out


def test_train_draws_database_balanced_epochs(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng)
    calls = []
    orig = tc.balanced_indices

    def spy(domains, y, n, r):
        calls.append((list(domains), np.asarray(y).copy(), n))
        return orig(domains, y, n, r)

    monkeypatch.setattr(tc.loop, "balanced_indices", spy)
    m = tc.train("abnormal", "cnn", train_records=recs[:12] + recs[14:], val_records=recs[12:14]
                 + recs[:2], balance="database", max_epochs=2, widths=(4, 4, 4, 4),
                 crops_per_recording=1, augment=False)
    assert m.config.balance == "database" and len(m.history) == 2
    assert len(calls) == 2  # once per epoch
    domains, y, n = calls[0]
    assert n == 14 and sorted(set(domains)) == ["physionet2016/a", "physionet2016/e"]
    # the labels passed are the training targets in LABELS order (normal 0, abnormal 1)
    assert y.tolist() == [1 if r.label == "abnormal" else 0 for r in recs[:12] + recs[14:]]


# ----------------------------------------------------------------------------- adversarial

def test_gradient_reversal_is_identity_forward_and_scales_gradient_backward():
    torch = pytest.importorskip("torch")
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = tc.gradient_reversal(x, 0.5)
    assert torch.equal(y.detach(), x.detach())
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.5, -1.0, -1.5]))


@pytest.mark.parametrize("model,bidirectional", [("cnn", False), ("gru", True)])
def test_model_features_match_forward_and_have_the_head_width(model, bidirectional):
    torch = pytest.importorskip("torch")
    cfg = tc.TrainConfig(model=model, widths=(4, 4, 4, 6), rnn_units=(4, 4, 5),
                         bidirectional=bidirectional)
    net = tc.build_model(cfg).eval()
    x = torch.randn(2, 64, 64)
    with torch.no_grad():
        lp, att = net(x)
        lp2, att2, h = net.features(x)
    assert torch.equal(lp, lp2) and torch.equal(att, att2)
    assert h.shape == (2, tc.feature_dim(cfg)) == (2, 6 if model == "cnn" else 10)


def test_domain_adversarial_trains_stores_weight_and_validates(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng)
    calls = []
    orig = tc.gradient_reversal

    def spy(x, w):
        calls.append(w)
        return orig(x, w)

    monkeypatch.setattr(tc.loop, "gradient_reversal", spy)
    m = tc.train("abnormal", "cnn", train_records=recs[:12] + recs[14:],
                 val_records=recs[12:14] + recs[:2], domain_adversarial=0.3, max_epochs=3,
                 widths=(4, 4, 4, 4), crops_per_recording=1, augment=False)
    assert m.config.to_dict()["domain_adversarial"] == 0.3
    assert "domain_adversarial" not in tc.TrainConfig().to_dict()
    # weight ramps up from 0 over the epochs and stays below the final weight
    assert calls[0] == 0.0 and 0 < max(calls) < 0.3 and calls == sorted(calls)
    with pytest.raises(ParameterError, match="domain_adversarial"):
        tc.TrainConfig(domain_adversarial=-1)
    one_db = [r for r in recs if r.labels["database"] == "a"]
    with pytest.raises(ParameterError, match="two databases"):
        tc.train("abnormal", "cnn", train_records=one_db, domain_adversarial=1.0,
                 max_epochs=1, widths=(4, 4, 4, 4))
