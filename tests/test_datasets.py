"""Corpus readers: exact counts against the manifests, and malformed layouts."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from heartsound import datasets
from heartsound.datasets import circor2022, pascal2011, physionet2016
from heartsound.errors import DatasetError, ParameterError

# --------------------------------------------------------------------------- helpers


def _manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def physionet(physionet_root):
    return physionet2016.read(physionet_root)


@pytest.fixture(scope="module")
def circor(circor_root):
    return circor2022.read(circor_root)


@pytest.fixture(scope="module")
def pascal(pascal_root):
    return pascal2011.read(pascal_root)


# --------------------------------------------------------------------------- registry


def test_registry_reads_by_name(pascal_root):
    records = datasets.read("pascal2011", pascal_root, sets=["A"])
    assert len(records) == 124
    assert {r.corpus for r in records} == {"pascal2011"}


def test_registry_unknown_name_lists_valid_names(tmp_path):
    with pytest.raises(ParameterError, match="physionet2016, circor2022, pascal2011"):
        datasets.read("circor2023", tmp_path)


# --------------------------------------------------------------------------- PhysioNet 2016


def test_physionet_counts_match_manifest(physionet, physionet_root):
    rows = [r for r in _manifest(physionet_root / "manifest.tsv") if r["included"] == "1"]
    assert len(physionet) == len(rows) == 1782
    assert [r.id for r in physionet] == [r["record"] for r in rows]
    expected = {r["record"]: ("abnormal" if r["label"] == "1" else "normal") for r in rows}
    assert {r.id: r.label for r in physionet} == expected
    assert Counter(r.label for r in physionet) == {"abnormal": 665, "normal": 1117}
    assert Counter(r.labels["database"] for r in physionet) == {
        "a": 409, "b": 490, "c": 31, "d": 55, "e": 683, "f": 114}
    assert Counter(r.labels["subset"] for r in physionet)["training-e"] == 683


def test_physionet_record_fields(physionet):
    first = physionet[0]
    assert first.id == "a0001" and first.group == "a0001" and first.label == "abnormal"
    assert first.audio_path.name == "a0001.flac" and first.annotation_path is None
    assert first.labels["label_code"] == 1 and first.labels["source_database"] == "MITHSDB"
    assert all(r.group == r.id for r in physionet)
    assert all(r.audio_path.is_file() for r in physionet[::50])


def test_physionet_subsets_by_letter_or_name(physionet_root):
    records = physionet2016.read(physionet_root, subsets=["c", "training-d"])
    assert Counter(r.labels["database"] for r in records) == {"c": 31, "d": 55}
    with pytest.raises(ParameterError, match="training-a"):
        physionet2016.read(physionet_root, subsets=["g"])


def _fake_physionet(root: Path) -> Path:
    for letter in "abcdef":
        folder = root / f"training-{letter}"
        _touch(folder / "REFERENCE.csv", f"{letter}0001,1\n{letter}0002,-1\n{letter}0003,-1\n")
        (folder / f"{letter}0001.wav").write_bytes(b"")
        (folder / f"{letter}0002.flac").write_bytes(b"")
    return root


def test_physionet_fake_tree_wav_and_flac(tmp_path):
    records = physionet2016.read(_fake_physionet(tmp_path))
    assert len(records) == 12  # the 0003 records have no audio file
    assert {r.audio_path.suffix for r in records} == {".wav", ".flac"}
    assert Counter(r.label for r in records) == {"abnormal": 6, "normal": 6}
    # official zip may unpack into training/
    nested = _fake_physionet(tmp_path / "outer" / "training")
    assert len(physionet2016.read(nested.parent)) == 12


@pytest.mark.parametrize("breakage, message", [
    ("no_folder", r"training-c/ is missing"),
    ("no_reference", r"training-c: REFERENCE.csv is missing"),
    ("bad_label", r"REFERENCE.csv: line 2"),
    ("no_audio", r"training-c: none of the recordings"),
])
def test_physionet_malformed(tmp_path, breakage, message):
    root = _fake_physionet(tmp_path)
    folder = root / "training-c"
    if breakage == "no_folder":
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
    elif breakage == "no_reference":
        (folder / "REFERENCE.csv").unlink()
    elif breakage == "bad_label":
        (folder / "REFERENCE.csv").write_text("c0001,1\nc0002,normal\n")
    else:
        for p in folder.glob("c000*"):
            p.unlink()
    with pytest.raises(DatasetError, match=message):
        physionet2016.read(root)


def test_physionet_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        physionet2016.read(tmp_path / "nowhere")


# --------------------------------------------------------------------------- CirCor 2022


def test_circor_counts_match_manifest(circor, circor_root):
    rows = _manifest(circor_root / "manifest.tsv")
    assert len(circor) == len(rows) == 1932
    # same recordings; the reader follows training_data.csv order, the manifest numeric order
    assert sorted(r.id for r in circor) == sorted(r["record"] for r in rows)
    by_id = {r.id: r for r in circor}
    for row in rows:
        rec = by_id[row["record"]]
        assert rec.labels["patient_id"] == row["patient_id"]
        assert rec.labels["location"] == row["location"]
        assert rec.label == row["murmur"]
        assert rec.labels["outcome"] == row["outcome"]
    patients = {r.labels["patient_id"]: r for r in circor}
    assert len(patients) == 583
    assert Counter(r.label for r in patients.values()) == {
        "Absent": 430, "Present": 111, "Unknown": 42}
    assert Counter(r.labels["outcome"] for r in patients.values()) == {
        "Normal": 301, "Abnormal": 282}
    assert Counter(r.labels["systolic_murmur_grading"] for r in patients.values()
                   if r.label == "Present") == {"I/VI": 65, "II/VI": 17, "III/VI": 29}
    assert Counter(r.labels["location"] for r in circor) == {
        "AV": 492, "PV": 466, "TV": 442, "MV": 530, "Phc": 2}


def test_circor_segmentation_status(circor):
    status = Counter(r.labels["segmentation"] for r in circor)
    assert status == {"valid": 1931, "malformed": 1}
    bad = [r for r in circor if r.labels["segmentation"] == "malformed"]
    assert [r.id for r in bad] == ["50782_MV_1"]
    assert bad[0].annotation_path is None
    assert sum(r.annotation_path is not None for r in circor) == 1931


def test_circor_read_tsv(circor_root):
    rows = circor2022.read_tsv(circor_root / "recordings" / "9979_AV.tsv")
    assert rows[0] == (0.0, 6.551, 0) and rows[1] == (6.551, 6.712571, 1)
    assert {s for _, _, s in rows} <= {0, 1, 2, 3, 4}
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))  # contiguous
    malformed = circor_root / "recordings" / "50782_MV_1.tsv"
    assert circor2022.read_tsv(malformed) == []
    with pytest.raises(DatasetError, match="50782_MV_1.tsv: malformed"):
        circor2022.read_tsv(malformed, strict=True)


def test_circor_record_fields(circor):
    by_id = {r.id: r for r in circor}
    r = by_id["9979_AV"]
    assert r.group == "9979" and r.label == "Present" and r.corpus == "circor2022"
    assert r.labels["murmur_locations"] == ["AV", "MV", "PV", "TV"]
    assert r.labels["murmur_at_location"] is True
    assert r.labels["systolic_murmur_grading"] == "III/VI"
    assert r.labels["campaign"] == "CC2015" and r.labels["age"] == "Child"
    assert r.labels["height"] == 103.0 and r.labels["additional_id"] is None
    assert r.audio_path.name == "9979_AV.flac"
    assert r.annotation_path.name == "9979_AV.tsv"
    # 33151: recorded at AV+PV+TV+MV, murmur audible at MV+TV only
    at = {by_id[f"33151_{loc}"].labels["murmur_at_location"] for loc in ("AV", "PV")}
    assert at == {False}
    assert by_id["33151_MV"].labels["murmur_at_location"] is True
    absent = [x for x in circor if x.label == "Absent"]
    assert not any(x.labels["murmur_at_location"] for x in absent)
    # repeated sites of 50782
    assert sorted(x.id for x in circor if x.labels["patient_id"] == "50782") == [
        "50782_AV_1", "50782_AV_2", "50782_MV_1", "50782_MV_2", "50782_PV", "50782_TV"]


def test_circor_additional_id_groups(circor, circor_root):
    with (circor_root / "training_data.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = {r["Patient ID"] for r in rows}
    pairs = [(r["Patient ID"], r["Additional ID"]) for r in rows
             if r["Additional ID"] in ids]
    assert len(pairs) == 60  # 30 children with two ids, each row pointing at the other
    group_of = {r.labels["patient_id"]: r.group for r in circor}
    for a, b in pairs:
        assert group_of[a] == group_of[b] == min(a, b, key=int)
    assert len(set(group_of.values())) == 583 - 30
    # a partner outside this subset still gives a stable group (the smaller id)
    outside = [r for r in rows if r["Additional ID"] not in ids | {"nan"}]
    for r in outside:
        assert group_of[r["Patient ID"]] == min(r["Patient ID"], r["Additional ID"], key=int)


def _fake_circor(root: Path, folder: str = "training_data") -> Path:
    header = ("Patient ID,Recording locations:,Murmur,Murmur locations,"
              "Systolic murmur grading,Outcome,Campaign,Additional ID\n")
    _touch(root / "training_data.csv", header
           + "100,AV+MV,Present,MV,II/VI,Abnormal,CC2015,200\n"
           + "200,AV,Absent,nan,nan,Normal,CC2015,100\n")
    rec = root / folder
    _touch(rec / "100.txt", "100 2 4000\nAV 100_AV.hea 100_AV.wav 100_AV.tsv\n"
           "MV 100_MV.hea 100_MV.wav 100_MV.tsv\n#Murmur: Present\n")
    _touch(rec / "200.txt", "200 1 4000\nAV 200_AV.hea 200_AV.wav 200_AV.tsv\n")
    for stem in ("100_AV", "100_MV"):
        (rec / f"{stem}.wav").write_bytes(b"")
        _touch(rec / f"{stem}.tsv", "0\t1.0\t0\n1.0\t1.1\t1\n")
    (rec / "200_AV.flac").write_bytes(b"")
    return root


def test_circor_fake_official_layout(tmp_path):
    records = circor2022.read(_fake_circor(tmp_path))
    assert [r.id for r in records] == ["100_AV", "100_MV", "200_AV"]
    assert {r.group for r in records} == {"100"}
    assert [r.labels["murmur_at_location"] for r in records] == [False, True, False]
    assert records[2].annotation_path is None
    assert records[2].labels["segmentation"] == "missing"
    assert records[0].audio_path.suffix == ".wav" and records[2].audio_path.suffix == ".flac"


@pytest.mark.parametrize("breakage, message", [
    ("no_csv", r"training_data.csv is missing"),
    ("no_folder", r"no recordings folder \(expected one of training_data, recordings/\)"),
    ("no_txt", r"training_data: patient description 200.txt is missing"),
    ("no_audio", r"training_data: audio of recording 100_MV is missing"),
    ("bad_txt", r"200.txt: header announces 2 recordings, found 1"),
    ("bad_columns", r"missing columns Murmur"),
])
def test_circor_malformed(tmp_path, breakage, message):
    root = _fake_circor(tmp_path)
    rec = root / "training_data"
    if breakage == "no_csv":
        (root / "training_data.csv").unlink()
    elif breakage == "no_folder":
        rec.rename(root / "audio")
    elif breakage == "no_txt":
        (rec / "200.txt").unlink()
    elif breakage == "no_audio":
        (rec / "100_MV.wav").unlink()
    elif breakage == "bad_txt":
        (rec / "200.txt").write_text("200 2 4000\nAV 200_AV.hea 200_AV.wav 200_AV.tsv\n")
    else:
        (root / "training_data.csv").write_text("Patient ID,Outcome\n100,Normal\n")
    with pytest.raises(DatasetError, match=message):
        circor2022.read(root)


def test_circor_read_tsv_errors(tmp_path):
    with pytest.raises(DatasetError, match="segmentation file not found"):
        circor2022.read_tsv(tmp_path / "x.tsv")
    bad = _touch(tmp_path / "b.tsv", "1\t2\t1\n0.5\t3\t2\n")  # goes back in time
    assert circor2022.read_tsv(bad) == []
    with pytest.raises(DatasetError, match="starts before"):
        circor2022.read_tsv(bad, strict=True)
    ok = _touch(tmp_path / "ok.tsv", "0\t1\t0\n1\t1\t1\n1\t2.5\t2\n")  # zero-length row kept
    assert circor2022.read_tsv(ok) == [(0.0, 1.0, 0), (1.0, 1.0, 1), (1.0, 2.5, 2)]


# --------------------------------------------------------------------------- PASCAL 2011

_PASCAL_COUNTS = {("A", "normal"): 31, ("A", "murmur"): 34, ("A", "extrahls"): 19,
                  ("A", "artifact"): 40, ("B", "normal"): 200, ("B", "murmur"): 66}


def test_pascal_counts(pascal):
    assert Counter(r.labels["set"] for r in pascal) == {"A": 124, "B": 266}
    assert Counter((r.labels["set"], r.label) for r in pascal) == _PASCAL_COUNTS
    assert all(r.labels["sublabel"] is None for r in pascal)
    assert sum(r.annotation_path is not None for r in pascal) == 21
    assert all(r.labels.get("segmented") == (r.annotation_path is not None) or
               r.annotation_path is None for r in pascal)


def test_pascal_record_fields(pascal):
    by_id = {r.id: r for r in pascal}
    a = by_id["normal__201102081321"]
    assert a.labels["pascal_id"] == "201102081321" and a.labels["samplerate"] == 44100
    assert a.group == a.id and a.annotation_path.name == "Atraining_normal_seg.csv"
    b = by_id["murmur__112_1306243000964_A"]
    assert b.labels["samplerate"] == 4000 and b.group == "B_112"
    assert by_id["murmur__112_1306243000964_B"].group == "B_112"


def test_pascal_sets_option(pascal_root):
    assert len(pascal2011.read(pascal_root, sets="B")) == 266
    with pytest.raises(ParameterError, match="valid: A, B"):
        pascal2011.read(pascal_root, sets=["C"])


def _kaggle_tree(pascal_root: Path, tmp_path: Path) -> Path:
    """The Kaggle layout: set_a/ set_b/ folders, set_a.csv / set_b.csv, no labels.csv."""
    root = tmp_path / "kaggle"
    root.mkdir()
    for name in ("set_a.csv", "set_b.csv", pascal2011.SEG_FILE):
        (root / name).symlink_to(pascal_root / name)
    (root / "set_a").symlink_to(pascal_root / "setA", target_is_directory=True)
    (root / "set_b").symlink_to(pascal_root / "setB", target_is_directory=True)
    return root


def test_pascal_kaggle_layout_fallback(pascal, pascal_root, tmp_path):
    records = pascal2011.read(_kaggle_tree(pascal_root, tmp_path))
    # the absent (dropped) set B files are skipped; the rest matches labels.csv exactly
    assert sorted((r.id, r.label) for r in records) == sorted((r.id, r.label) for r in pascal)
    assert {r.group for r in records} == {r.group for r in pascal}
    assert sum(r.annotation_path is not None for r in records) == 21


@pytest.mark.parametrize("fname, stem", [
    ("set_a/normal__201102081321.wav", "normal__201102081321"),
    ("set_b/Btraining_murmur_112_1306243000964_A.wav", "murmur__112_1306243000964_A"),
    ("set_b/Btraining_extrastole_127_1306764300147_C2.wav", "extrastole__127_1306764300147_C2"),
    ("set_b/Btraining_normal_Btraining_noisynormal_101_1305030823364_B.wav",
     "normal_noisynormal_101_1305030823364_B"),
    ("set_b/Btraining_murmur_Btraining_noisymurmur_135_1306428972976_A.wav",
     "murmur_noisymurmur_135_1306428972976_A"),
])
def test_pascal_kaggle_stem(fname, stem):
    assert pascal2011.kaggle_stem(fname) == stem


def test_pascal_kaggle_fake_tree_with_noisy_files(tmp_path):
    root = tmp_path
    _touch(root / "set_a.csv", "dataset,fname,label,sublabel\n"
           "a,set_a/normal__1.wav,normal,\na,set_a/Aunlabelledtest__2.wav,,\n")
    _touch(root / "set_b.csv", "dataset,fname,label,sublabel\n"
           "b,set_b/Btraining_normal_Btraining_noisynormal_7_13_B.wav,normal,noisynormal\n"
           "b,set_b/Btraining_extrastole_8_14_A.wav,extrastole,\n")
    for rel in ("set_a/normal__1.wav", "set_a/Aunlabelledtest__2.wav",
                "set_b/normal_noisynormal_7_13_B.wav", "set_b/extrastole__8_14_A.wav"):
        _touch(root / rel)
    records = pascal2011.read(root)
    assert [(r.id, r.label, r.labels["sublabel"], r.group) for r in records] == [
        ("normal__1", "normal", None, "normal__1"),
        ("normal_noisynormal_7_13_B", "normal", "noisynormal", "B_7"),
        ("extrastole__8_14_A", "extrastole", None, "B_8"),
    ]


@pytest.mark.parametrize("breakage, message", [
    ("no_tables", r"neither labels.csv nor set_a.csv"),
    ("no_set_dir", r"audio folder of set B is missing \(expected setB or set_b/\)"),
    ("no_audio", r"none of the labelled files of set_a.csv"),
])
def test_pascal_malformed_kaggle(tmp_path, breakage, message):
    root = tmp_path
    _touch(root / "set_a.csv", "dataset,fname,label,sublabel\na,set_a/normal__1.wav,normal,\n")
    _touch(root / "set_b.csv", "dataset,fname,label,sublabel\n"
           "b,set_b/Btraining_normal_7_13_B.wav,normal,\n")
    _touch(root / "set_a" / "normal__1.wav")
    _touch(root / "set_b" / "normal__7_13_B.wav")
    assert len(pascal2011.read(root)) == 2
    if breakage == "no_tables":
        (root / "set_a.csv").unlink()
    elif breakage == "no_set_dir":
        (root / "set_b" / "normal__7_13_B.wav").unlink()
        (root / "set_b").rmdir()
    else:
        (root / "set_a" / "normal__1.wav").unlink()
    with pytest.raises(DatasetError, match=message):
        pascal2011.read(root)


def test_pascal_labels_csv_missing_audio(tmp_path):
    _touch(tmp_path / "labels.csv", "file,set,label,sublabel,pascal_id\n"
           "setA/normal__1.flac,A,normal,,1\n")
    (tmp_path / "setA").mkdir()
    with pytest.raises(DatasetError, match=r"setA: audio file normal__1.wav/.flac"):
        pascal2011.read(tmp_path)


# --------------------------------------------------------------------------- PASCAL seg


def test_pascal_seg_counts(pascal_root, pascal):
    seg = pascal2011.read_seg(pascal_root)
    assert len(seg) == 21
    set_a = {r.id for r in pascal if r.labels["set"] == "A" and r.label == "normal"}
    assert set(seg) <= set_a
    labels = Counter(lab for events in seg.values() for lab, _ in events)
    # the file holds 390 values: 194 S1, 195 S2 and one unlabelled value, which is dropped
    assert labels == {"S1": 194, "S2": 195}
    for events in seg.values():
        times = [t for _, t in events]
        assert times == sorted(times)
        assert all(0 <= t < 10 for t in times)
    assert pascal2011.SEG_SR == 44100
    first = seg["normal__201102081321"]
    assert first[:2] == [("S1", 10021 / 44100), ("S2", 20759 / 44100)]


def test_pascal_seg_rows_starting_with_s2(pascal_root):
    seg = pascal2011.read_seg(pascal_root)
    a = seg["normal__201102260502"]
    assert a[:3] == [("S2", 11526 / 44100), ("S1", 27941 / 44100), ("S2", 42197 / 44100)]
    assert len(a) == 16 and a[-1] == ("S1", 265168 / 44100)
    b = seg["normal__201105011626"]
    assert b[:3] == [("S2", 2855 / 44100), ("S1", 15497 / 44100), ("S2", 23246 / 44100)]
    assert len(b) == 37  # 38 values under S1/S2 headers, the 39th (389151) dropped
    assert all(t != 389151 / 44100 for _, t in b)
    # the out-of-order pair of columns 17/18 keeps its header labels, sorted by time
    assert ("S2", 155833 / 44100) in b and ("S1", 164899 / 44100) in b
    assert b.index(("S2", 155833 / 44100)) < b.index(("S1", 164899 / 44100))


def test_pascal_seg_malformed(tmp_path):
    with pytest.raises(DatasetError, match="Atraining_normal_seg.csv is missing"):
        pascal2011.read_seg(tmp_path)
    _touch(tmp_path / pascal2011.SEG_FILE, ",S1,S2,\r1.aif,100,x2\r")
    with pytest.raises(DatasetError, match=r"row 1, column 2: 'x2'"):
        pascal2011.read_seg(tmp_path)
    _touch(tmp_path / pascal2011.SEG_FILE, "a,b\r1.aif,100\r")
    with pytest.raises(DatasetError, match="header row"):
        pascal2011.read_seg(tmp_path)
    _touch(tmp_path / pascal2011.SEG_FILE, ",S1,S2,S1,\r9.aif,,4410,8820,13230\r")
    # blank S1 first, then S2, S1; the value under the empty trailing header is dropped
    assert pascal2011.read_seg(tmp_path) == {"normal__9": [("S2", 0.1), ("S1", 0.2)]}
