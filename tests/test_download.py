"""Downloads against a local HTTP server (127.0.0.1, ephemeral port): never the internet."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from heartsound.datasets import download as dl
from heartsound.cli.datasets import add_arguments as add_datasets_arguments, main as datasets_main
from heartsound.errors import DatasetError, ParameterError


class _Server:
    """Serves ``files`` (name -> bytes) with HTTP Range support and scripted failures."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: list[int] = []   # per request: stop after this many body bytes
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 (http.server API)
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name not in server.files:
                    self.send_error(404, "not found")
                    return
                data = server.files[name]
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.cut_after:
                    body = body[:server.cut_after.pop(0)]
                    self.close_connection = True
                self.wfile.write(body)
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def archive(rng) -> bytes:
    # incompressible payload so the archive spans several read chunks
    payload = rng.integers(0, 256, 3_000_000, dtype="uint8").tobytes()
    return _zip_bytes({
        "corpus-1.0/training_data.csv": b"Patient ID\n1\n",
        "corpus-1.0/training_data/1_AV.wav": payload,
    })


# --------------------------------------------------------------------------- fetch


def test_fetch_interrupted_then_resumed(server, archive, tmp_path):
    server.files["a.zip"] = archive
    server.cut_after = [1_000_000]
    dest = tmp_path / "a.zip"
    with pytest.raises(DatasetError, match="interrupted.*run again to resume"):
        dl.fetch(f"{server.url}/a.zip", dest, retries=0, progress=False)
    part = tmp_path / "a.zip.part"
    assert part.stat().st_size == 1_000_000 and not dest.exists()
    digest = dl.fetch(f"{server.url}/a.zip", dest, sha256=_sha(archive), retries=0,
                      progress=False)
    assert digest == _sha(archive) and dest.read_bytes() == archive
    assert not part.exists()
    assert server.requests == [("a.zip", None), ("a.zip", "bytes=1000000-")]


def test_fetch_retries_resume_within_one_call(server, archive, tmp_path):
    server.files["a.zip"] = archive
    server.cut_after = [700_000, 900_000]
    dest = tmp_path / "a.zip"
    dl.fetch(f"{server.url}/a.zip", dest, sha256=_sha(archive), retries=2, progress=True)
    assert dest.read_bytes() == archive
    assert [r for _, r in server.requests] == [None, "bytes=700000-", "bytes=1600000-"]


def test_fetch_server_ignoring_range_starts_over(server, archive, tmp_path):
    server.files["a.zip"] = archive
    (tmp_path / "a.zip.part").write_bytes(b"garbage" * 10)
    server.ignore_range = True
    dl.fetch(f"{server.url}/a.zip", tmp_path / "a.zip", sha256=_sha(archive), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == archive


def test_fetch_complete_part_file(server, archive, tmp_path):
    server.files["a.zip"] = archive
    (tmp_path / "a.zip.part").write_bytes(archive)  # whole file, rename never happened
    dl.fetch(f"{server.url}/a.zip", tmp_path / "a.zip", sha256=_sha(archive), progress=False)
    assert (tmp_path / "a.zip").read_bytes() == archive
    assert server.requests == [("a.zip", f"bytes={len(archive)}-")]


def test_fetch_checksum_mismatch(server, archive, tmp_path):
    server.files["a.zip"] = archive
    dest = tmp_path / "a.zip"
    with pytest.raises(DatasetError, match="checksum mismatch.*expected 0{64}"):
        dl.fetch(f"{server.url}/a.zip", dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not (tmp_path / "a.zip.part").exists()


def test_fetch_existing_file_is_kept_or_rejected(server, archive, tmp_path):
    dest = tmp_path / "a.zip"
    dest.write_bytes(archive)
    assert dl.fetch(f"{server.url}/a.zip", dest, sha256=_sha(archive)) == _sha(archive)
    assert server.requests == []  # nothing downloaded
    with pytest.raises(DatasetError, match="exists but its sha256"):
        dl.fetch(f"{server.url}/a.zip", dest, sha256="1" * 64)


def test_fetch_http_errors(server, tmp_path):
    with pytest.raises(DatasetError, match="HTTP 404"):
        dl.fetch(f"{server.url}/missing.zip", tmp_path / "m.zip", progress=False)
    with pytest.raises(ParameterError, match="only http"):
        dl.fetch("file:///etc/passwd", tmp_path / "x")


def test_published_sha256(server, archive):
    server.files["SHA256SUMS.txt"] = (
        f"{'a' * 64}  training-a/a0001.wav\n{_sha(archive)} training.zip\n").encode()
    assert dl.published_sha256(f"{server.url}/SHA256SUMS.txt", "training.zip") == _sha(archive)
    assert dl.published_sha256(f"{server.url}/SHA256SUMS.txt", "other.zip") is None
    assert dl.published_sha256(f"{server.url}/nope.txt", "training.zip") is None


# --------------------------------------------------------------------------- extract


def test_extract_zip(archive, tmp_path):
    (tmp_path / "a.zip").write_bytes(archive)
    files = dl.extract(tmp_path / "a.zip", tmp_path / "out")
    assert sorted(p.name for p in files) == ["1_AV.wav", "training_data.csv"]
    assert (tmp_path / "out/corpus-1.0/training_data.csv").read_bytes() == b"Patient ID\n1\n"
    assert dl.find_root(tmp_path / "out", "training_data.csv") == tmp_path / "out/corpus-1.0"


@pytest.mark.parametrize("name", ["../evil.txt", "/evil.txt", "a/../../evil.txt"])
def test_extract_zip_path_traversal(tmp_path, name):
    (tmp_path / "bad.zip").write_bytes(_zip_bytes({"ok.txt": b"x", name: b"evil"}))
    with pytest.raises(DatasetError, match=r"bad\.zip: member .*refusing to extract"):
        dl.extract(tmp_path / "bad.zip", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()  # checked before anything is written


def test_extract_zip_symlink_and_corrupt(tmp_path):
    link = zipfile.ZipInfo("corpus/passwd")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("corpus/ok.txt", b"x")
        zf.writestr(link, b"/etc/passwd")
    (tmp_path / "link.zip").write_bytes(buf.getvalue())
    with pytest.raises(DatasetError, match="'corpus/passwd' is a symbolic link"):
        dl.extract(tmp_path / "link.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "corpus").exists()  # checked before anything is written
    data = bytearray(_zip_bytes({"a.txt": b"hello" * 1000}))
    data[40:60] = b"\xff" * 20  # clobber the member's compressed bytes / header
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="bad.zip: corrupt zip"):
        dl.extract(tmp_path / "bad.zip", tmp_path / "out")


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            payload = data.get(m.name)
            if payload is not None:
                m.size = len(payload)
            tf.addfile(m, io.BytesIO(payload) if payload is not None else None)


def test_extract_tar_and_link_rejection(tmp_path):
    good = tarfile.TarInfo("corpus/set_a.csv")
    _tar(tmp_path / "ok.tar.gz", [good], {"corpus/set_a.csv": b"dataset,fname\n"})
    assert [p.name for p in dl.extract(tmp_path / "ok.tar.gz", tmp_path / "o")] == ["set_a.csv"]
    link = tarfile.TarInfo("corpus/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _tar(tmp_path / "bad.tar.gz", [link], {})
    with pytest.raises(DatasetError, match="is a link"):
        dl.extract(tmp_path / "bad.tar.gz", tmp_path / "b")
    hard = tarfile.TarInfo("corpus/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "corpus/set_a.csv"
    _tar(tmp_path / "hard.tar.gz", [good, hard], {"corpus/set_a.csv": b"dataset,fname\n"})
    with pytest.raises(DatasetError, match="'corpus/hard' is a link or device"):
        dl.extract(tmp_path / "hard.tar.gz", tmp_path / "h")
    assert not (tmp_path / "h" / "corpus").exists()
    up = tarfile.TarInfo("../up.txt")
    _tar(tmp_path / "up.tar.gz", [up], {"../up.txt": b"x"})
    with pytest.raises(DatasetError, match="outside"):
        dl.extract(tmp_path / "up.tar.gz", tmp_path / "u")
    (tmp_path / "plain.txt").write_text("not an archive")
    with pytest.raises(DatasetError, match="not a zip or tar"):
        dl.extract(tmp_path / "plain.txt", tmp_path / "p")


# --------------------------------------------------------------------------- download()


@pytest.fixture
def fake_registry(server, archive, monkeypatch):
    server.files["corpus.zip"] = archive
    server.files["notes.csv"] = b"extra\n"
    server.files["SHA256SUMS.txt"] = f"{_sha(archive)}  corpus.zip\n".encode()
    meta = dl.DatasetInfo(
        name="fake", description="a fake corpus", licence="CC0", size="3 MB",
        homepage=f"{server.url}/", marker="training_data.csv",
        files=(dl.Remote(url=f"{server.url}/corpus.zip", filename="corpus.zip",
                         sha256sums_url=f"{server.url}/SHA256SUMS.txt"),
               dl.Remote(url=f"{server.url}/notes.csv", filename="notes.csv",
                         sha256=_sha(b"extra\n"), extract=False)),
        verify={"training_data.csv": _sha(b"Patient ID\n1\n")},
    )
    monkeypatch.setitem(dl.DATASETS, "fake", meta)
    return meta


def test_download_end_to_end(fake_registry, server, tmp_path):
    server.cut_after = [500_000]
    root = dl.download("fake", tmp_path / "dl", progress=False, retries=1)
    assert root == tmp_path / "dl" / "corpus-1.0"
    assert (root / "training_data.csv").is_file() and (root / "notes.csv").is_file()
    assert (root / "training_data" / "1_AV.wav").stat().st_size == 3_000_000
    assert dl.find_local("fake", tmp_path / "dl") is None  # no dl/fake folder
    assert dl.find_local("fake", root) == root


def test_download_published_checksum_mismatch(fake_registry, server, tmp_path):
    server.files["SHA256SUMS.txt"] = f"{'f' * 64}  corpus.zip\n".encode()
    with pytest.raises(DatasetError, match="checksum mismatch"):
        dl.download("fake", tmp_path, progress=False)


def test_download_verify_inside_archive(fake_registry, server, tmp_path, monkeypatch):
    monkeypatch.setitem(dl.DATASETS, "fake", dl.DatasetInfo(
        **{**fake_registry.__dict__, "verify": {"training_data.csv": "0" * 64}}))
    with pytest.raises(DatasetError, match="not the expected release"):
        dl.download("fake", tmp_path, progress=False)


def test_download_wrong_layout(fake_registry, server, tmp_path):
    other = _zip_bytes({"x/readme.txt": b"hi"})
    server.files["other.zip"] = other
    # a mirror is checked against the published checksum of the official file
    with pytest.raises(DatasetError, match="checksum mismatch"):
        dl.download("fake", tmp_path / "1", url=f"{server.url}/other.zip", progress=False)
    with pytest.raises(DatasetError, match="no folder holds training_data.csv"):
        dl.download("fake", tmp_path / "2", url=f"{server.url}/other.zip",
                    sha256=_sha(other), progress=False)


def test_download_unknown_name(tmp_path):
    with pytest.raises(ParameterError, match="valid names: physionet2016, circor2022"):
        dl.download("nope", tmp_path)


# --------------------------------------------------------------------------- CLI


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="heartsound datasets")
    add_datasets_arguments(parser)
    return datasets_main(parser.parse_args(argv))


def test_cli_download_with_mirror_and_checksum(fake_registry, server, archive, tmp_path,
                                               capsys):
    server.files["mirror.zip"] = archive
    code = _run(["download", "fake", "--to", str(tmp_path), "--url",
                 f"{server.url}/mirror.zip", "--sha256", _sha(archive), "--no-progress"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "corpus-1.0")
    assert ("mirror.zip", None) in server.requests and ("corpus.zip", None) not in server.requests
    with pytest.raises(DatasetError, match="checksum mismatch"):
        _run(["download", "fake", "--to", str(tmp_path / "2"), "--url",
              f"{server.url}/mirror.zip", "--sha256", "0" * 64, "--no-progress"])


def test_cli_list(data_root, capsys):
    assert _run(["list", "--json", "--data", str(data_root)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) >= {"physionet2016", "circor2022", "pascal2011"}
    for name in ("physionet2016", "circor2022", "pascal2011"):
        assert rows[name]["local"] == str(data_root / name)
        assert rows[name]["licence"] and rows[name]["url"].startswith("http")
    assert rows["physionet2016"]["download"] == [
        "https://physionet.org/files/challenge-2016/1.0.0/training.zip"]
    assert _run(["list"]) == 0
    assert "licence:" in capsys.readouterr().out


def test_cli_list_not_found(tmp_path, capsys):
    _run(["list", "--json", "--data", str(tmp_path)])
    assert all(r["local"] is None for r in json.loads(capsys.readouterr().out))
