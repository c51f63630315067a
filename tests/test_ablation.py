"""The ablation driver end to end on synthetic CirCor-like records (1 epoch, 2 folds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from heartsound.datasets.base import Record  # noqa: E402
from heartsound.errors import ParameterError  # noqa: E402

SR = 2000


def _records(tmp_path: Path, rng: np.random.Generator) -> list[Record]:
    """12 patients (4 normal, 4 mild, 4 moderate/severe), 2 sites each, 5 s of pulses
    with a systolic noise burst whose level grows with the grade."""
    out = []
    t = np.arange(5 * SR) / SR
    kinds = [("Absent", None)] * 4 + [("Present", "I/VI")] * 4 + [("Present", "II/VI")] * 4
    for p, (murmur, grade) in enumerate(kinds):
        pid = str(1000 + p)
        for site in ("AV", "MV"):
            y = np.sin(2 * np.pi * 50 * t) * (np.mod(t, 0.8) < 0.1)
            level = {None: 0.0, "I/VI": 0.2, "II/VI": 0.6}[grade]
            y = y + level * rng.standard_normal(t.size) * ((np.mod(t, 0.8) > 0.15)
                                                           & (np.mod(t, 0.8) < 0.4))
            y = y + 0.01 * rng.standard_normal(t.size)
            path = tmp_path / f"{pid}_{site}.wav"
            sf.write(path, (0.5 * y / np.abs(y).max()).astype(np.float32), SR)
            out.append(Record(id=f"{pid}_{site}", corpus="circor2022", audio_path=path,
                              group=pid, label=murmur,
                              labels={"patient_id": pid, "location": site,
                                      "murmur_at_location": murmur == "Present",
                                      "systolic_murmur_grading": grade}))
    return out


@pytest.mark.slow
def test_ablation_end_to_end(tmp_path, monkeypatch, rng):
    from heartsound.training import ablation

    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path / "cache"))
    recs = _records(tmp_path, rng)
    out = tmp_path / "ablation.json"
    kw = dict(k=2, seed=0, max_epochs=1, max_minutes=1.0, widths=(4, 4, 4, 4),
              rnn_units=(8,), crops_per_recording=1)
    res = ablation.run("severity", recs, ["cnn+sigmoid+up", "gru+none+weighted"], out, **kw)
    data = json.loads(out.read_text())
    assert list(data["configs"]) == ["cnn+sigmoid+up", "gru+none+weighted"]
    for e in data["configs"].values():
        s = e["summary"]
        cm = np.array(s["confusion"]["matrix"])
        assert s["n"] == 12 == cm.sum() and (cm.sum(axis=1) == 4).all()
        assert s["recall"]["mild"] == pytest.approx(cm[1, 1] / 4)
        assert s["uar_pooled"] == pytest.approx(np.trace(cm / 4) / 3)
        assert len(s["uar_folds"]) == 2 and len(e["epochs"]) == 2 and max(e["epochs"]) == 1
        assert set(s["auc"]) == {"normal", "mild", "moderate_severe"}
        assert all(0.0 <= a <= 1.0 for a in s["auc"].values())
    # a rerun resumes: nothing is retrained and the file is unchanged
    before = out.read_text()
    again = ablation.run("severity", recs, ["cnn+sigmoid+up"], out, **kw)
    assert out.read_text() == before
    assert again["configs"]["cnn+sigmoid+up"] == res["configs"]["cnn+sigmoid+up"]
    rows = data["configs"]["cnn+sigmoid+up"]["patients"]
    assert ablation.paired_bootstrap("severity", rows, rows, n=50) == (0.0, 0.0, 0.0)
    md = ablation.render([out], tmp_path / "fig")
    assert "Paired differences from `cnn+sigmoid+up`" in md
    assert "| `gru+none+weighted` | GRU | none (avg pool) | class-weighted loss |" in md
    pngs = sorted(p.name for p in (tmp_path / "fig").glob("*.png"))
    assert pngs == ["ablation_severity_cnn_sigmoid_up.png",
                    "ablation_severity_gru_none_weighted.png", "ablation_severity_uar.png"]
    assert all((tmp_path / "fig" / p).stat().st_size < 200_000 for p in pngs)


def test_ablation_unknown_config(tmp_path):
    from heartsound.training import ablation

    with pytest.raises(ParameterError, match="cnn\\+sigmoid\\+up"):
        ablation.run("severity", [], ["cnn+attention"], tmp_path / "x.json")
