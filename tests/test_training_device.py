"""Simulated stethoscope response in the classifier augmentation (``device_augment``)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from heartsound.errors import ParameterError
from heartsound.training.classifier import TrainConfig
from heartsound.training.classifier.data import (DEVICE_MAX_DB, augment, device_curve,
                                                 device_response)


def _crops(seed: int = 0) -> np.ndarray:
    """4 crops of 64 frames x (64 Mel + 4 phase) columns."""
    return np.random.default_rng(seed).standard_normal((4, 64, 68)).astype(np.float32)


def test_device_curve_bounded_smooth_and_random():
    rng = np.random.default_rng(0)
    curves = np.array([device_curve(64, rng) for _ in range(500)])
    assert curves.shape == (500, 64)
    assert np.abs(curves).max() <= DEVICE_MAX_DB + 1e-9
    # two shelves (<= 0.8 dB/bin each at the steepest corner) and up to three bumps
    # (<= 1.2 dB/bin each): never a jump between neighbouring bins
    assert np.abs(np.diff(curves, axis=1)).max() < 5.1
    assert np.abs(curves).max(axis=1).min() > 0.1  # never flat
    assert curves.std(axis=0).min() > 1.0  # every bin moves across draws
    assert np.abs(device_curve(64, rng, max_db=2.0)).max() <= 2.0 + 1e-9


def test_device_response_off_is_identity_without_draws():
    x = _crops()
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    out = device_response(x, rng, 0.0, 64)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert rng.bit_generator.state == state


def test_device_response_scales_each_band_about_its_mean():
    x = _crops() + np.linspace(-3, 3, 68, dtype=np.float32)  # band means far from 0
    out = device_response(x, np.random.default_rng(1), 1.0, 64)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out[..., 64:], x[..., 64:])  # phase channels untouched
    np.testing.assert_allclose(out[..., :64].mean(axis=1), x[..., :64].mean(axis=1),
                               atol=1e-5)
    dx = x[..., :64] - x[..., :64].mean(axis=1, keepdims=True)
    do = out[..., :64] - out[..., :64].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(do.std(axis=(1, 2)), dx.std(axis=(1, 2)), rtol=1e-5)
    ratio = do / dx  # one factor per (crop, band), the same in every frame
    np.testing.assert_allclose(ratio.std(axis=1), 0.0, atol=1e-3)
    r = ratio.mean(axis=1)
    assert (r.max(axis=1) / r.min(axis=1)).max() <= 10 ** (2 * DEVICE_MAX_DB / 20) + 1e-3
    assert (r.max(axis=1) / r.min(axis=1)).min() > 1.05  # each crop was changed


def test_device_response_known_answers():
    flat = np.tile(np.arange(68, dtype=np.float32), (2, 10, 1))  # no change over time
    np.testing.assert_array_equal(device_response(flat, np.random.default_rng(0), 1.0, 64),
                                  flat)
    x = _crops()
    rng = np.random.default_rng(5)
    hits = [not np.array_equal(device_response(x[:1], rng, 0.8, 64), x[:1])
            for _ in range(400)]
    assert 0.72 < np.mean(hits) < 0.88  # probability per crop


def test_augment_device_off_unchanged_on_changes():
    x = _crops()
    plain = augment(x, np.random.default_rng(0), 64)
    np.testing.assert_array_equal(augment(x, np.random.default_rng(0), 64, 0.0), plain)
    dev = augment(x, np.random.default_rng(0), 64, 1.0)
    assert not np.array_equal(dev, plain)
    np.testing.assert_array_equal(dev[..., 64:], x[..., 64:])


def test_config_option_and_flag():
    from heartsound.cli.train import _classifier_config, add_classifier_arguments

    assert "device_augment" not in TrainConfig().to_dict()  # old cards compare equal
    assert TrainConfig(device_augment=0.8).to_dict()["device_augment"] == 0.8
    with pytest.raises(ParameterError, match="device_augment"):
        TrainConfig(device_augment=1.5)
    p = argparse.ArgumentParser()
    add_classifier_arguments(p)
    args = p.parse_args(["--task", "abnormal", "--device-augment", "0.8"])
    assert _classifier_config(args).device_augment == 0.8
    args = p.parse_args(["--task", "abnormal"])
    assert _classifier_config(args).device_augment == 0.0


def test_training_loop_passes_the_probability(monkeypatch):
    from heartsound.training.classifier import loop

    seen = []
    monkeypatch.setattr(loop, "augment", lambda x, rng, n_mels, device: seen.append(device)
                        or x)
    cfg = TrainConfig(device_augment=0.8, crops_per_recording=1, batch_size=2)
    recs = [type("R", (), {"corpus": "c", "id": f"r{i}", "group": f"g{i}",
                           "labels": {}})() for i in range(2)]
    feats = {loop.record_key(r): np.zeros((100, 64), np.float32) for r in recs}

    def objective(xb, yb, bi, epoch):
        import torch
        return torch.zeros((), requires_grad=True)

    objective.net = type("N", (), {"train": lambda self: None})()
    opt = type("O", (), {"zero_grad": lambda self: None, "step": lambda self: None})()
    loop._run_epoch(cfg, objective, opt, recs, np.array([0, 1]), feats, 0,
                    np.random.default_rng(0))
    assert seen == [0.8]
