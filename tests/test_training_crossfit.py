"""Cross-fitted ensembles (``TrainConfig.inner_folds``) and parallel CV folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heartsound.datasets.base import Record
from heartsound.errors import ParameterError

torch = pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from heartsound.training import classifier as tc  # noqa: E402

SR = 2000
#: A tiny seeded run recorded at commit 20b1f64 (see the last test).
RECORDED_LOSSES = [0.5843063592910767, 0.5722421407699585]
RECORDED_VAL_SCORES = [0.5, 0.5]
RECORDED_RULES = {"threshold": 0.05}
RECORDED_P_ABNORMAL = [0.6497949361801147, 0.6506215929985046, 0.6500748991966248]


def _records(tmp_path: Path, rng: np.random.Generator, n: int = 18) -> list[Record]:
    """Separable PhysioNet-like records: abnormal ones carry loud broadband noise."""
    out = []
    t = np.arange(5 * SR) / SR
    for i in range(n):
        lab = "abnormal" if i % 2 else "normal"
        y = np.sin(2 * np.pi * 50 * t) * (np.mod(t, 0.8) < 0.1)
        y = y + (0.5 if lab == "abnormal" else 0.01) * rng.standard_normal(t.size)
        path = tmp_path / f"a{i:04d}.wav"
        sf.write(path, (0.5 * y / np.abs(y).max()).astype(np.float32), SR)
        out.append(Record(id=f"a{i:04d}", corpus="physionet2016", audio_path=path,
                          group=f"a{i:04d}", label=lab, labels={"database": "a"}))
    return out


def test_inner_folds_validated_and_stored_only_when_set():
    with pytest.raises(ParameterError, match="inner_folds"):
        tc.TrainConfig(inner_folds=0)
    assert "inner_folds" not in tc.TrainConfig().to_dict()
    assert tc.TrainConfig(inner_folds=3).to_dict()["inner_folds"] == 3


def test_ensemble_module_averages_log_probs_and_attention():
    cfg = tc.TrainConfig(task="abnormal", widths=(4, 4, 4, 4))
    torch.manual_seed(0)
    members = [tc.build_model(cfg).eval() for _ in range(3)]
    ens = tc.ensemble_module(members).eval()
    x = torch.randn(2, 64, 64)
    with torch.no_grad():
        outs = [m(x) for m in members]
        lp, att = ens(x)
    mean_lp = torch.stack([o[0] for o in outs]).mean(0)
    assert torch.allclose(lp, torch.log_softmax(mean_lp, -1), atol=1e-6)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(att, torch.stack([o[1] for o in outs]).mean(0), atol=1e-7)


def test_crossfit_members_train_out_of_fold_and_rules_use_all_patients(tmp_path, monkeypatch,
                                                                         rng):
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng)
    seen = []
    orig = tc.crossfit.fit_network

    def spy(cfg, tr, val, feats, progress=False):
        assert cfg.inner_folds == 1  # each member is one network
        seen.append(({r.id for r in tr}, {r.id for r in val}))
        return orig(cfg, tr, val, feats, progress)

    monkeypatch.setattr(tc.crossfit, "fit_network", spy)
    m = tc.train("abnormal", "cnn", train_records=recs, inner_folds=3, max_epochs=2,
                 widths=(4, 4, 4, 4), crops_per_recording=1, augment=False)
    assert len(seen) == 3
    vals = [v for _, v in seen]
    # every record is validated by exactly one member, never by one it trained
    assert sorted(sum((sorted(v) for v in vals), [])) == sorted(r.id for r in recs)
    assert all(not (tr & va) for tr, va in seen)
    assert sorted(k.split("/")[1] for k in m.val_ids) == sorted(r.id for r in recs)
    assert m.val_probs.shape == (len(recs), 2)
    assert len(m.model.members) == 3
    assert sorted({h["member"] for h in m.history}) == [0, 1, 2]
    assert tc.best_epochs(m.history) == [
        int(np.argmax([h["val_score"] for h in m.history if h["member"] == k]))
        for k in range(3)]
    # the out-of-fold probabilities are the members' own, not the ensemble's
    feats = tc.feature_cache(recs, m.config.frontend)
    ens_probs = m.predict([r for r in recs], feats)
    assert not np.allclose(ens_probs, m.val_probs[np.argsort(
        [next(i for i, r in enumerate(recs) if k.endswith(r.id)) for k in m.val_ids])])
    with pytest.raises(ParameterError, match="val_records"):
        tc.train("abnormal", "cnn", train_records=recs, val_records=recs[:2], inner_folds=3)


@pytest.mark.slow
def test_cv_jobs_gives_the_same_folds_as_serial(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng, n=12)
    kw = dict(model="cnn", max_epochs=1, widths=(4, 4, 4, 4), crops_per_recording=1,
              augment=False)
    serial = tc.cross_validate("abnormal", recs, k=2, **kw)
    parallel = tc.cross_validate("abnormal", recs, k=2, jobs=2, **kw)
    for a, b in zip(serial, parallel):
        assert a["test_ids"] == b["test_ids"] and a["fold"] == b["fold"]
        np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-5)


@pytest.mark.slow
def test_crossfit_jobs_trains_the_same_members_as_serial(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng, n=12)
    kw = dict(inner_folds=2, max_epochs=1, widths=(4, 4, 4, 4), crops_per_recording=1,
              augment=False)
    serial = tc.train("abnormal", "cnn", train_records=recs, **kw)
    parallel = tc.train("abnormal", "cnn", train_records=recs, jobs=2, **kw)
    assert serial.val_ids == parallel.val_ids and serial.rules == parallel.rules
    np.testing.assert_allclose(serial.val_probs, parallel.val_probs, atol=1e-5)
    assert [h["member"] for h in serial.history] == [h["member"] for h in parallel.history]
    x = torch.randn(2, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(serial.model(x)[0].numpy(), parallel.model(x)[0].numpy(),
                                   atol=1e-5)


def _train_cli(tmp_path, monkeypatch, rng, n: int, extra: list[str]) -> None:
    """Run `heartsound train classifier --task abnormal --corpora physionet2016 EXTRA` on
    ``n`` synthetic records (the corpus readers are stubbed)."""
    from heartsound import cli
    from heartsound.cli import train as ccli

    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng, n=n)
    monkeypatch.setattr(ccli, "_resolve_roots", lambda roots: {"physionet2016": tmp_path})
    monkeypatch.setattr(ccli, "_read", lambda names, roots: recs)
    argv = ["train", "classifier", "--task", "abnormal", "--corpora", "physionet2016"] + extra
    monkeypatch.setattr("sys.argv", ["heartsound"] + argv)
    assert cli.main(argv) == 0


def test_cli_train_writes_model_and_card(tmp_path, monkeypatch, rng, capsys):
    """`heartsound train classifier --out F` writes F and its model card F.md (with the
    command); the ensemble loads for inference like a single network."""
    from heartsound.classification import classify

    out = tmp_path / "m.onnx"
    _train_cli(tmp_path, monkeypatch, rng, 12,
               ["--epochs", "1", "--widths", "4", "4", "4", "4", "--inner-folds", "2",
                "--out", str(out)])
    card = out.with_suffix(".md").read_text()
    assert "ensemble of 2" in card and "--inner-folds 2" in card
    import hashlib

    assert hashlib.sha256(out.read_bytes()).hexdigest() in card
    r = classify(0.1 * rng.standard_normal(12000), 2000, task="abnormal", model=str(out))
    assert r.label in ("normal", "abnormal")


def test_phase_feature_cache_is_keyed_by_the_segmenter(tmp_path, monkeypatch, rng):
    """Cached phase channels are the shipped segmenter's: another segmenter, another cache;
    the cached rows are the front end's output."""
    from heartsound.classification.frontend import FrontendConfig, features
    from heartsound.io import load
    from heartsound.segmentation import neural

    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng, n=2)
    fe = FrontendConfig(phase_channels=True)
    first = tc.feature_cache(recs, fe)
    r = recs[0]
    rec = load(r.audio_path)
    np.testing.assert_allclose(first[f"{r.corpus}/{r.id}"], features(rec.y, rec.sr, fe),
                               atol=1e-6)
    cache = tmp_path / "cache" / "classifier-features"
    before = set(cache.glob("*.npy"))
    assert len(before) == 1

    class _Other:
        sha256 = "0" * 64

    monkeypatch.setattr(neural, "load_model", lambda *a, **k: _Other())
    # the stand-in cannot segment, so the (already checked) features are stubbed too
    monkeypatch.setattr(tc.data, "frontend_features", lambda y, sr, fe: first[f"{r.corpus}/{r.id}"])
    tc.feature_cache(recs, fe)
    assert len(set(cache.glob("*.npy")) - before) == 1  # recomputed under a new key


def test_cli_train_analysis_rate_and_crop_reach_the_bundle(tmp_path, monkeypatch, rng, capsys):
    """`--analysis-rate 4000 --crop-frames 128` trains on 64 ms windows (32 ms hop) and
    crops of 4.13 s; the bundle carries that front end, so inference uses it too."""
    from heartsound.classification import classify
    from heartsound.classification.inference import _load

    out = tmp_path / "m.onnx"
    _train_cli(tmp_path, monkeypatch, rng, 8,
               ["--model", "gru", "--epochs", "1", "--analysis-rate", "4000",
                "--crop-frames", "128", "--out", str(out)])
    fe = _load("abnormal", 1, str(out)).frontend
    assert (fe.sr, fe.crop_frames, fe.crop_hop) == (4000, 128, 64)
    assert fe.frame_rate == 4000 / 128 and abs(fe.crop_seconds - 4.128) < 1e-9
    assert "crops of 128 frames (4.13 s)" in out.with_suffix(".md").read_text()
    r = classify(0.1 * rng.standard_normal(12000), 2000, task="abnormal", model=str(out))
    assert r.label in ("normal", "abnormal")


def test_seeded_training_reproduces_the_recorded_run(tmp_path, monkeypatch):
    """Known answer: a tiny seeded CNN run (2 epochs, class-weighted NLL, inner split)
    gives the loss history, rules and probabilities recorded with the code before the
    training package was split by concern (commit 20b1f64)."""
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, np.random.default_rng(5), n=12)
    m = tc.train("abnormal", "cnn", train_records=recs, max_epochs=2, widths=(4, 4, 4, 4),
                 crops_per_recording=1)
    np.testing.assert_allclose([h["loss"] for h in m.history], RECORDED_LOSSES, rtol=1e-5)
    assert [h["val_score"] for h in m.history] == RECORDED_VAL_SCORES
    assert m.rules == RECORDED_RULES
    np.testing.assert_allclose(m.predict(recs[:3])[:, 1], RECORDED_P_ABNORMAL, rtol=1e-4)


def test_cv_only_runs_the_asked_folds_of_the_same_split(tmp_path, monkeypatch, rng):
    """`only=[1]` trains and scores fold 1 alone, on the very test patients fold 1 of the
    full split holds; a fold outside the split is refused before any training."""
    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng, n=12)
    kw = dict(model="cnn", max_epochs=1, widths=(4, 4, 4, 4), crops_per_recording=1,
              augment=False)
    res = tc.cross_validate("abnormal", recs, k=3, only=[1], **kw)
    _, te = tc.grouped_folds("abnormal", recs, 3, 0)[1]
    assert [f["fold"] for f in res] == [1]
    assert sorted(res[0]["test_ids"]) == sorted(f"physionet2016/{recs[i].id}" for i in te)
    with pytest.raises(ParameterError, match=r"\[3\].*0\.\.2"):
        tc.cross_validate("abnormal", recs, k=3, only=[0, 3], **kw)


def test_cli_cv_folds_writes_only_those_folds(tmp_path, monkeypatch, rng, capsys):
    """`--cv 3 --folds 2 --json F`: F holds fold 2 alone, scored in the summary."""
    import json

    out = tmp_path / "cv.json"
    _train_cli(tmp_path, monkeypatch, rng, 12,
               ["--epochs", "1", "--widths", "4", "4", "4", "4", "--cv", "3", "--folds", "2",
                "--json", str(out)])
    d = json.loads(out.read_text())
    assert [f["fold"] for f in d["folds"]] == [2]
    assert [f["fold"] for f in d["summary"]["per_fold"]] == [2]
    assert d["summary"]["n"] == len(d["folds"][0]["truth"])
