"""The HTTP API of ``heartsound serve``: every endpoint and error status, the token, path
traversal, oversize and corrupt uploads, with Starlette's TestClient and against a real
uvicorn on 127.0.0.1 (bounded in time, always stopped)."""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import os
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
with warnings.catch_warnings():  # starlette's note about httpx's successor
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from heartsound.pipeline import analyze  # noqa: E402
from heartsound.report import write_named  # noqa: E402
from heartsound.serialize import json_text, png_text  # noqa: E402
from heartsound.web.app import create_app  # noqa: E402
from heartsound.web.launch import served  # noqa: E402

REC = "circor2022/recordings/9979_AV"
BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, data_root):
    """FOLDER: one CirCor recording with its annotation, a sub-folder, a text file named
    .wav, a link to a file outside, and a secret outside."""
    root = tmp_path_factory.mktemp("served")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.wav").write_bytes((data_root / f"{REC}.flac").read_bytes())
    shutil.copy(data_root / f"{REC}.flac", root / "9979_AV.flac")
    shutil.copy(data_root / f"{REC}.tsv", root / "9979_AV.tsv")
    (root / "sub").mkdir()
    shutil.copy(data_root / f"{REC}.flac", root / "sub" / "copy.flac")
    (root / "notaudio.wav").write_text("hello, not audio\n")
    (root / "link_out.flac").symlink_to(outside / "secret.wav")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def client(folder):
    with TestClient(create_app(folder), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def flac(data_root) -> bytes:
    return (data_root / f"{REC}.flac").read_bytes()


def _wav(seconds: float, sr: int = 4000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 60 * t), sr, format="WAV")
    return buf.getvalue()


def _post(c, content: bytes, name="a.flac", **fields):
    return c.post("/api/analyze", files={"file": (name, content)}, data=fields)


# --- POST /api/analyze --------------------------------------------------------------------

def test_analyze_returns_the_json_of_analyze(client, flac, data_root):
    r = _post(client, flac, name="rec.flac")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    d = analyze(data_root / f"{REC}.flac").to_dict()
    d["source"] = "rec.flac"
    assert r.text == json_text(d)


def test_analyze_options_and_content_not_name(client, flac):
    r = _post(client, flac, name="named-like-text.txt", tasks="murmur", method="springer2016")
    d = r.json()
    assert r.status_code == 200
    assert list(d["classification"]) == ["murmur"]
    assert d["segmentation"]["method"] == "springer2016"
    assert d["source"] == "named-like-text.txt"


@pytest.mark.parametrize("fields", [{"tasks": "nonsense"}, {"method": "magic"}, {"tasks": ""}])
def test_analyze_bad_options_422(client, flac, fields):
    r = _post(client, flac, **fields)
    assert r.status_code == 422 and r.json()["status"] == 422


def test_analyze_not_audio_415(client):
    r = _post(client, b"RIFF....WAVEfmt garbage" * 20, name="x.wav")
    assert r.status_code == 415
    assert "not a readable audio file" in r.json()["detail"]


def test_analyze_too_short_422(client):
    r = _post(client, _wav(0.5), name="short.wav")
    assert r.status_code == 422 and "too short" in r.json()["detail"]
    assert "short.wav" in r.json()["detail"] and "/tmp" not in r.json()["detail"]


def test_analyze_malformed_bodies_422(client):
    assert client.post("/api/analyze", data={"tasks": "murmur"}).status_code == 422
    r = client.post("/api/analyze", content=b"abc", headers={"content-type": "text/plain"})
    assert r.status_code == 422
    r = client.post("/api/analyze", content=b"--X\r\ngarbage\r\n\r\n\x00\x01",
                    headers={"content-type": "multipart/form-data; boundary=X"})
    assert r.status_code == 422
    long_field = {"tasks": "murmur," * 1000}
    assert _post(client, b"x", **long_field).status_code == 422


def test_uploads_leave_no_file(client, flac):
    private = Path(client.app.app.state.private.name)
    before = sorted(private.rglob("*"))
    assert _post(client, flac).status_code == 200
    assert _post(client, b"junk" * 100, name="j.wav").status_code == 415
    r = client.post("/api/analyze?keep=true", files={"file": ("j.wav", b"junk" * 100)})
    assert r.status_code == 415 and "x-heartsound-id" not in r.headers
    assert not any(i["name"] == "j.wav" for i in client.get("/api/recordings").json()["items"])
    assert sorted(private.rglob("*")) == before
    assert oct(private.stat().st_mode & 0o777) == "0o700"


def test_oversize_413_by_content_length(folder, flac):
    with TestClient(create_app(folder, max_upload_bytes=10_000), base_url=BASE) as c:
        r = _post(c, flac)
        assert r.status_code == 413 and "limit" in r.json()["detail"]


def _chunked_body():
    yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    for _ in range(100):
        yield b"\0" * 4096


def test_oversize_413_without_content_length(folder):
    """A chunked body (no Content-Length) is counted as it is parsed (the real server
    test shows it is refused before the client has sent it all)."""
    with TestClient(create_app(folder, max_upload_bytes=40_000), base_url=BASE) as c:
        r = c.post("/api/analyze", content=_chunked_body(),
                   headers={"content-type": "multipart/form-data; boundary=B"})
    assert r.status_code == 413


def test_busy_503_with_retry_after(folder, flac):
    app = create_app(folder, workers=1, queue=0)
    with TestClient(app, base_url=BASE) as c:
        with app.app.state.pool.slot():
            r = _post(c, flac)
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
            assert c.get("/api/waveform", params={"id": "9979_AV.flac"}).status_code == 503
        assert _post(c, flac, tasks="murmur").status_code == 200  # the slot is free again


# --- the folder --------------------------------------------------------------------------

def test_list_and_filters(client):
    d = client.get("/api/recordings").json()
    ids = [i["id"] for i in d["items"] if not i["upload"]]
    assert ids == ["9979_AV.flac", "notaudio.wav", "sub/copy.flac"]  # no link out
    assert client.get("/api/result", params={"id": "sub/copy.flac"}).status_code == 200
    d = client.get("/api/recordings", params={"label": "murmur:Present"}).json()
    assert [i["id"] for i in d["items"]] == ["sub/copy.flac"]
    assert d["items"][0]["heart_rate_bpm"] > 40 and d["items"][0]["usable"] is True
    d = client.get("/api/recordings", params={"sort": "heart_rate", "order": "desc",
                                              "q": "COPY"}).json()
    assert [i["id"] for i in d["items"]] == ["sub/copy.flac"]
    analysed = client.get("/api/recordings", params={"analysed": "false"}).json()["items"]
    assert "sub/copy.flac" not in [i["id"] for i in analysed]
    for bad in ({"sort": "colour"}, {"order": "up"}, {"label": "murmur"},
                {"uncertain": "maybe"}):
        assert client.get("/api/recordings", params=bad).status_code == 422


def test_sidecar_json_is_listed(folder, client):
    a = analyze(folder / "9979_AV.flac", tasks="murmur")
    write_named(folder, "9979_AV", {"json": json_text(a)})
    try:
        row = next(i for i in client.get("/api/recordings").json()["items"]
                   if i["id"] == "9979_AV.flac")
        assert row["analysed"] and row["labels"] == {"murmur": "Present"}
    finally:
        (folder / "9979_AV.heartsound.json").unlink()


@pytest.mark.parametrize("rid", ["../outside/secret.wav", "/etc/passwd", "sub/../../x.flac",
                                 "link_out.flac", "dirlink/secret.wav", "missing.flac",
                                 "upload:0123456789abcdef", "", "sub", "%2e%2e/x"])
@pytest.mark.parametrize("endpoint", ["/api/result", "/api/audio", "/api/waveform",
                                      "/api/figure"])
def test_traversal_and_unknown_404(client, rid, endpoint):
    r = client.get(endpoint, params={"id": rid})
    assert r.status_code == 404, (rid, r.text)
    assert r.json()["status"] == 404


def test_folder_file_not_audio_415(client):
    assert client.get("/api/result", params={"id": "notaudio.wav"}).status_code == 415


def test_result_audio_waveform_spectrogram_figure(client):
    rid = "9979_AV.flac"
    d = client.get("/api/result", params={"id": rid, "tasks": "murmur"}).json()
    assert d["source"] == rid and d["classification"]["murmur"]["label"] == "Present"
    r = client.get("/api/audio", params={"id": rid})
    y, sr = sf.read(io.BytesIO(r.content))
    assert r.headers["content-type"] == "audio/wav" and sr == 8000
    assert abs(len(y) / sr - d["duration_s"]) < 0.01
    env = client.get("/api/waveform", params={"id": rid, "columns": 500}).json()
    assert len(env["lo"]) == len(env["hi"]) <= 500 and env["t1"] == pytest.approx(18.16)
    assert all(lo <= hi for lo, hi in zip(env["lo"], env["hi"]))
    part = client.get("/api/waveform", params={"id": rid, "t0": 2, "t1": 3, "columns": 100})
    assert part.json()["t0"] == pytest.approx(2) and part.json()["samples_per_column"] == 20
    png = client.get("/api/spectrogram", params={"id": rid, "width": 300, "height": 50})
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png.content[16:24]) == (300, 50)
    fig = client.get("/api/figure", params={"id": rid, "tasks": "murmur"})
    assert png_text(fig.content)["Software"].startswith("heartsound")
    for bad in ({"t0": 5, "t1": 4}, {"columns": 0}, {"columns": 10**6}, {"t0": "x"}):
        assert client.get("/api/waveform", params={"id": rid, **bad}).status_code == 422


# --- corrections -------------------------------------------------------------------------

def _rows(client, rid="9979_AV.flac"):
    return client.get("/api/result", params={"id": rid}).json()["segmentation"]["states"]


def test_reference_beside_the_recording(client, folder):
    d = client.get("/api/reference", params={"id": "9979_AV.flac"}).json()
    first = (folder / "9979_AV.tsv").read_text().split("\n")[0].split("\t")
    assert d["name"] == "9979_AV.tsv"
    assert d["rows"][0] == [float(first[0]), float(first[1]), int(first[2])]
    assert d["agreement"] > 0.7 and d["matched"] >= 10
    kinds = [x["kind"] for x in d["differences"]]
    assert set(kinds) <= {"missed", "extra", "moved"}
    n_ref = sum(1 for r in d["rows"] if r[2] in (1, 3))
    assert d["matched"] + kinds.count("missed") == n_ref
    assert client.get("/api/reference", params={"id": "9979_AV.flac",
                                                "name": "../x.tsv"}).status_code == 422
    assert client.get("/api/reference", params={"id": "sub/copy.flac"}).status_code == 404


def test_compare_finds_a_moved_sound(client):
    rows = _rows(client)
    same = client.post("/api/compare", json={"id": "9979_AV.flac", "rows": rows}).json()
    assert same["differences"] == [] and same["agreement"] == 1.0
    k = next(i for i, r in enumerate(rows) if r[2] == 1 and i > 0)
    moved = [list(r) for r in rows]
    moved[k][0] += 0.04
    moved[k - 1][1] += 0.04
    tsv = "".join(f"{a:.6f}\t{b:.6f}\t{s}\n" for a, b, s in moved)
    d = client.post("/api/compare", json={"id": "9979_AV.flac", "tsv": tsv}).json()
    assert [(x["kind"], x["sound"]) for x in d["differences"]] == [("moved", "S1")]
    assert d["differences"][0]["shift_s"] == pytest.approx(0.04)
    bad = client.post("/api/compare", json={"id": "9979_AV.flac", "tsv": "1\t2\n"})
    assert bad.status_code == 422


def test_save_corrected_segmentation(client, folder):
    rows = _rows(client)
    k = next(i for i, r in enumerate(rows) if r[2] == 1 and i > 0)
    rows[k][0] += 0.03
    rows[k - 1][1] += 0.03
    r = client.post("/api/save", json={"id": "sub/copy.flac", "name": "fixed", "rows": rows})
    assert r.status_code == 201
    assert r.json()["written"] == ["sub/fixed.heartsound.tsv", "sub/fixed.heartsound.json"]
    lines = (folder / "sub" / "fixed.heartsound.tsv").read_text().splitlines()
    assert lines[k].split("\t")[0] == f"{rows[k][0]:.6f}"
    saved = json.loads((folder / "sub" / "fixed.heartsound.json").read_text())
    assert saved["segmentation"]["corrected"] is True
    assert saved["segmentation"]["states"][k][0] == pytest.approx(rows[k][0])
    assert saved["heart_rate_bpm"] == pytest.approx(88, abs=3)
    # again at the same name: heartsound's own files are replaced
    assert client.post("/api/save", json={"id": "sub/copy.flac", "name": "fixed",
                                          "rows": rows}).status_code == 201


def test_save_refusals(client, folder):
    rows = _rows(client)
    (folder / "mine.heartsound.tsv").write_text("my own notes\n")
    try:
        r = client.post("/api/save", json={"id": "9979_AV.flac", "name": "mine",
                                           "rows": rows})
        assert r.status_code == 409
        assert (folder / "mine.heartsound.tsv").read_text() == "my own notes\n"
    finally:
        (folder / "mine.heartsound.tsv").unlink()
    for name in ("../evil", ".hidden", "a/b", "", "x" * 200, None):
        r = client.post("/api/save", json={"id": "9979_AV.flac", "name": name, "rows": rows})
        assert r.status_code == 422, name
    for bad_rows in ([[0, 1, 9]], [[0, 100, 1]], [[0, 1, 1], [0.5, 2, 2]], "x", [[1, 0, 1]]):
        r = client.post("/api/save", json={"id": "9979_AV.flac", "name": "ok",
                                           "rows": bad_rows})
        assert r.status_code == 422, bad_rows
    r = client.post("/api/save", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 422
    assert client.post("/api/save", json={"id": "../x", "name": "ok",
                                          "rows": rows}).status_code == 404
    assert not list(folder.glob("ok.*"))


def test_upload_kept_for_the_viewer_and_saved_into_folder(client, flac, folder):
    r = client.post("/api/analyze", params={"keep": "true"},
                    files={"file": ("up.flac", flac)}, data={"tasks": "murmur"})
    rid = r.headers["x-heartsound-id"]
    assert rid.startswith("upload:")
    items = client.get("/api/recordings", params={"tasks": "murmur"}).json()["items"]
    assert any(i["id"] == rid and i["analysed"] for i in items)
    rows = r.json()["segmentation"]["states"]
    s = client.post("/api/save", json={"id": rid, "name": "from-upload", "rows": rows,
                                       "tasks": "murmur"})
    assert s.status_code == 201 and (folder / "from-upload.heartsound.tsv").is_file()


def test_no_folder_uploads_only(flac):
    with TestClient(create_app(), base_url=BASE) as c:
        assert c.get("/api/recordings").json() == {"folder": None, "total": 0, "items": []}
        r = c.post("/api/analyze?keep=1", files={"file": ("a.flac", flac)},
                   data={"tasks": "murmur"})
        rid = r.headers["x-heartsound-id"]
        s = c.post("/api/save", json={"id": rid, "name": "x", "tasks": "murmur",
                                      "rows": r.json()["segmentation"]["states"]})
        assert s.status_code == 403
        assert c.get("/api/result", params={"id": "a.flac"}).status_code == 404


# --- token, host, origin, docs -------------------------------------------------------------

def test_token(folder):
    with TestClient(create_app(folder, token="s3cret"), base_url=BASE) as c:
        r = c.get("/api/health")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/api/health", headers={"Authorization": "Bearer nope"}).status_code == 403
        assert c.get("/api/health", params={"token": "nope"}).status_code == 403
        assert c.get("/static/js/main.js").status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = c.get("/", params={"token": "s3cret"})
        assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
        assert c.get("/static/js/main.js").status_code == 200  # the cookie now
    with TestClient(create_app(folder, token="s3cret"), base_url="http://example.org") as c:
        assert c.get("/api/health", params={"token": "s3cret"}).status_code == 200


def test_host_and_origin_checks(client):
    assert client.get("/api/health", headers={"host": "evil.example"}).status_code == 403
    r = client.post("/api/compare", json={"id": "9979_AV.flac", "rows": []},
                    headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/compare", json={"id": "9979_AV.flac", "rows": []},
                    headers={"origin": BASE})
    assert r.status_code == 200


def test_openapi_and_page(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/analyze", "/api/recordings", "/api/result", "/api/audio",
                 "/api/waveform", "/api/spectrogram", "/api/figure", "/api/reference",
                 "/api/compare", "/api/save", "/api/health"):
        assert path in spec["paths"], path
    body = spec["paths"]["/api/analyze"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="base">' in page.text
    assert client.get("/static/js/viewer.js").headers["content-type"].startswith(
        "text/javascript")
    assert client.get("/api/nothing").json() == {"detail": "Not Found", "status": 404}
    bad = client.get("/api/waveform", params={"id": "9979_AV.flac", "t0": "x"}).json()
    assert bad["status"] == 422 and bad["detail"].startswith("t0:")


# --- a real uvicorn ----------------------------------------------------------------------

def _chunked_refused_early(url: str, token: str, total_mb: int = 64) -> bool:
    """Send a chunked upload of ``total_mb`` to a server with a 1 MB limit; True when
    the 413 arrives before the whole body was sent."""
    import select
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    sock.sendall((f"POST /api/analyze HTTP/1.1\r\nHost: {u.netloc}\r\n"
                  f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Type: multipart/form-data; boundary=B\r\n\r\n").encode())
    chunk = b"\0" * 65536
    sent, answer = 0, b""
    try:
        for part in _chunked_body():
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        while sent < total_mb << 20:
            if select.select([sock], [], [], 0)[0]:
                answer = sock.recv(4096)
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
        if not answer:
            answer = sock.recv(4096)
    except (BrokenPipeError, ConnectionResetError):
        answer = answer or sock.recv(4096)
    finally:
        sock.close()
    return answer.startswith(b"HTTP/1.1 413") and sent < total_mb << 20


@pytest.mark.slow
def test_real_uvicorn(folder, flac, tmp_path):
    import httpx

    with served(folder, token="tok", args=["--max-upload-mb", "1", "--workers", "2"],
                log_dir=tmp_path) as s:
        auth = {"Authorization": "Bearer tok"}
        with httpx.Client(base_url=s.url, timeout=60) as c:
            assert c.get("/api/health").status_code == 401
            assert c.get("/api/health", headers=auth).json()["workers"] == 2
            r = c.post("/api/analyze", headers=auth, files={"file": ("a.flac", flac)})
            assert r.status_code == 200 and r.json()["n_cycles"] > 10
            big = c.post("/api/analyze", headers=auth,
                         files={"file": ("big.wav", b"\0" * (2 << 20))})
            assert big.status_code == 413
            assert _chunked_refused_early(s.url, "tok")
            bad = c.post("/api/analyze", headers=auth, files={"file": ("c.wav", b"x" * 999)})
            assert bad.status_code == 415
            for rid in ("../x", "/etc/passwd", "link_out.flac"):
                assert c.get("/api/result", params={"id": rid},
                             headers=auth).status_code == 404
            raw = c.get("/api/result?id=..%2F..%2Fetc%2Fpasswd", headers=auth)
            assert raw.status_code == 404
            assert c.get("/openapi.json", headers=auth).status_code == 200
            # a small load: 10 concurrent analyses, all answered with the same result
            with cf.ThreadPoolExecutor(10) as ex:
                rs = list(ex.map(lambda _: c.post("/api/analyze", headers=auth,
                                                  files={"file": ("a.flac", flac)},
                                                  data={"tasks": "murmur"}), range(10)))
            assert {r.status_code for r in rs} == {200}
            assert len({r.json()["heart_rate_bpm"] for r in rs}) == 1
    assert s.process.poll() is not None


@pytest.mark.slow
def test_real_uvicorn_other_host_needs_a_token(folder, tmp_path):
    import httpx

    with served(folder, host="0.0.0.0", log_dir=tmp_path) as s:
        printed = s.stderr.read_text()
        token = printed.split("token (required on every request): ")[1].split()[0]
        url = s.url.replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(url + "/api/health").status_code == 401
        ok = httpx.get(url + "/api/health", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200


# --- the command -------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--workers", "0"], ["--queue", "-1"],
                                  ["--max-upload-mb", "0"], ["--port", "70000"]])
def test_serve_bad_options_exit_2(args, capsys):
    from heartsound.cli import main

    assert main(["serve", *args]) == 2
    assert "heartsound: error:" in capsys.readouterr().err


def test_serve_missing_folder_exit_2(tmp_path, capsys):
    from heartsound.cli import main

    assert main(["serve", str(tmp_path / "nope"), "--port", "1"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_web_package_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, heartsound.web, heartsound.cli.serve; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
