"""The routes of :func:`heartsound.web.app.create_app` (see its module docstring for the
error codes)."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from .._version import __version__
from ..classification.tasks import TASKS
from ..cli._common import parse_tasks
from ..errors import ParameterError
from ..report import write_named
from ..segmentation import DEFAULT_METHOD, METHODS
from ..serialize import json_text, tsv_text
from . import corrections, signals
from .listing import select
from .safety import Forbidden, NotFound, check_save_name, resolve_inside
from .store import Store, check_audio
from .uploads import read_limited, read_multipart

__all__ = ["add_routes"]

_JSON_LIMIT = 32 << 20
_UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "audio (any format libsndfile reads; checked by content)"},
        "tasks": {"type": "string", "default": ",".join(TASKS),
                  "description": f"comma-separated of {', '.join(TASKS)}, or 'all'"},
        "method": {"type": "string", "enum": sorted(METHODS), "default": DEFAULT_METHOD}}}}}}}


def options(method: str | None, tasks: str | None) -> tuple[str, tuple[str, ...]]:
    """The segmentation method and tasks asked for (defaults when not given).

    Raises
    ------
    ParameterError
        An unknown method or task (HTTP 422).
    """
    method = DEFAULT_METHOD if method is None else method
    if method not in METHODS:
        raise ParameterError(f"method: one of {', '.join(sorted(METHODS))}, got {method!r}")
    return method, parse_tasks(argparse.Namespace(
        tasks=",".join(TASKS) if tasks is None else tasks))


def _json(d: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_text(d), status_code=status, media_type="application/json",
                    headers=headers)


def _store(request: Request) -> Store:
    return request.app.state.store


async def _body_json(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != "application/json":
        raise ParameterError("expected Content-Type: application/json")
    try:
        d = json.loads(await read_limited(request.stream(), _JSON_LIMIT))
    except ValueError:
        raise ParameterError("body is not valid JSON") from None
    if not isinstance(d, dict) or not isinstance(d.get("id"), str):
        raise ParameterError("body: expected a JSON object with an 'id'")
    return d


async def _analyze_upload(request: Request, keep: bool) -> Response:
    app = request.app
    store: Store = app.state.store
    with app.state.pool.slot() as slot:
        tmp = Path(tempfile.mkdtemp(dir=store.upload_dir))
        kept = False
        try:
            up = await read_multipart(request.stream(), request.headers.get(
                "content-type", ""), tmp, app.state.max_upload)
            if up.path is None:
                raise ParameterError("no 'file' part in the form")
            method, tasks = options(up.fields.get("method"), up.fields.get("tasks"))
            e = store.new_upload(up.path, up.filename.replace("\\", "/"))
            check_audio(up.path, e.name)
            _a, d = await slot.run(store.analysis, e, method, tasks, keep)
            if keep:
                store.keep(e)
                kept = True
        finally:
            if not kept:
                shutil.rmtree(tmp, ignore_errors=True)
    return _json(d, headers={"X-Heartsound-Id": e.id} if keep else None)


def _add_analysis_routes(app: FastAPI) -> None:
    @app.post("/api/analyze", openapi_extra=_UPLOAD_DOC, tags=["analysis"],
              summary="Analyse an uploaded recording (the JSON of analyze --json)")
    async def analyze_upload(request: Request, keep: bool = Query(
            False, description="keep the upload for the viewer (its id is in the "
                               "X-Heartsound-Id header)")) -> Response:
        return await _analyze_upload(request, keep)

    @app.get("/api/result", tags=["analysis"], summary="The result of a recording")
    async def result(request: Request, id: str, method: str | None = None,
                     tasks: str | None = None) -> Response:
        store = _store(request)
        e, (m, t) = store.entry(id), options(method, tasks)
        d = store.cached_result(e, m, t) or await request.app.state.pool.run(
            store.result, e, m, t)
        return _json(d)

    @app.get("/api/figure", tags=["analysis"], summary="The report figure (PNG)",
             response_class=Response)
    async def figure(request: Request, id: str, method: str | None = None,
                     tasks: str | None = None) -> Response:
        store = _store(request)
        e, (m, t) = store.entry(id), options(method, tasks)
        png = await request.app.state.pool.run(store.figure, e, m, t)
        return Response(png, media_type="image/png")


def _add_signal_routes(app: FastAPI) -> None:
    @app.get("/api/audio", tags=["signals"], summary="The recording as 16-bit WAV",
             response_class=Response)
    async def audio(request: Request, id: str) -> Response:
        store = _store(request)
        e = store.entry(id)

        def wav() -> bytes:
            rec = store.recording(e)
            return signals.wav_bytes(rec.y, rec.sr)
        return Response(await request.app.state.pool.run(wav), media_type="audio/wav")

    @app.get("/api/waveform", tags=["signals"], summary="Min/max envelope per column")
    async def waveform(request: Request, id: str, t0: float | None = None,
                       t1: float | None = None, columns: int = 2000) -> Response:
        store = _store(request)
        e = store.entry(id)

        def env() -> dict:
            rec = store.recording(e)
            return signals.envelope(rec.y, rec.sr, t0=t0, t1=t1, columns=columns)
        return _json(await request.app.state.pool.run(env))

    @app.get("/api/spectrogram", tags=["signals"], summary="Spectrogram image (PNG)",
             response_class=Response)
    async def spectrogram(request: Request, id: str, t0: float | None = None,
                          t1: float | None = None, width: int = 1200,
                          height: int = 160) -> Response:
        store = _store(request)
        e = store.entry(id)

        def png() -> bytes:
            rec = store.recording(e)
            return signals.spectrogram_png(rec.y, rec.sr, t0=t0, t1=t1, width=width,
                                           height=height)
        return Response(await request.app.state.pool.run(png), media_type="image/png")


def _add_folder_routes(app: FastAPI) -> None:
    @app.get("/api/recordings", tags=["folder"], summary="The recordings, sorted, filtered")
    async def recordings(request: Request, sort: str = "name", order: str = "asc",
                         q: str | None = None, label: list[str] = Query(
                             [], description="TASK:LABEL, e.g. murmur:Present"),
                         uncertain: str | None = None, usable: str | None = None,
                         analysed: str | None = None, method: str | None = None,
                         tasks: str | None = None) -> Response:
        store = _store(request)
        m, t = options(method, tasks)

        def rows() -> list[dict]:
            return [store.row(e, m, t)
                    for e in store.upload_entries() + store.folder_entries()]
        items = select(await request.app.state.pool.run(rows), sort=sort, order=order,
                       q=q, label=label, uncertain=uncertain, usable=usable,
                       analysed=analysed)
        folder = None if store.folder is None else store.folder.name
        return _json({"folder": folder, "total": len(items), "items": items})

    @app.get("/api/reference", tags=["corrections"],
             summary="An existing CirCor .tsv beside the recording, compared with the model")
    async def reference(request: Request, id: str, name: str | None = None,
                        method: str | None = None, tasks: str | None = None) -> Response:
        store = _store(request)
        e, (m, t) = store.entry(id), options(method, tasks)
        if store.folder is None or e.id.startswith("upload:"):
            raise NotFound("references are read beside folder recordings only")
        fname = name or f"{Path(e.id).stem}.tsv"
        if "/" in fname or not fname.endswith(".tsv"):
            raise ParameterError(f"name {fname!r}: a .tsv file name beside the recording")
        rel = (Path(e.id).parent / fname).as_posix()
        path = resolve_inside(store.folder, rel)
        rows = corrections.read_reference(path)
        d = store.cached_result(e, m, t) or await request.app.state.pool.run(
            store.result, e, m, t)
        cmp = corrections.compare(rows, _model_rows(d), float(d["duration_s"]))
        return _json({"name": rel, "rows": [list(r) for r in rows], **cmp})


def _model_rows(d: dict[str, Any]) -> list[tuple[float, float, int]]:
    return [(float(a), float(b), int(s)) for a, b, s in d["segmentation"]["states"]]


def _add_correction_routes(app: FastAPI) -> None:
    @app.post("/api/compare", tags=["corrections"],
              summary="Compare rows or a .tsv text with the model's segmentation")
    async def compare(request: Request) -> Response:
        body = await _body_json(request)
        store = _store(request)
        e, (m, t) = store.entry(body["id"]), options(body.get("method"), body.get("tasks"))
        d = store.cached_result(e, m, t) or await request.app.state.pool.run(
            store.result, e, m, t)
        dur = float(d["duration_s"])
        if isinstance(body.get("tsv"), str):
            tmp = Path(tempfile.mkdtemp(dir=store.upload_dir))
            try:
                (tmp / "reference.tsv").write_text(body["tsv"], encoding="utf-8")
                rows = corrections.read_reference(tmp / "reference.tsv")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            rows = corrections.check_rows([list(r) for r in rows], dur)
        else:
            rows = corrections.check_rows(body.get("rows"), dur)
        cmp = corrections.compare(rows, _model_rows(d), dur)
        return _json({"rows": [list(r) for r in rows], **cmp})

    @app.post("/api/save", tags=["corrections"], status_code=201,
              summary="Save a corrected segmentation as <name>.heartsound.tsv and .json")
    async def save(request: Request) -> Response:
        body = await _body_json(request)
        store = _store(request)
        if store.folder is None:
            raise Forbidden("no folder is served: start `heartsound serve FOLDER` to save "
                            "(or use Download in the viewer)")
        name = check_save_name(body.get("name"))
        e, (m, t) = store.entry(body["id"]), options(body.get("method"), body.get("tasks"))
        d = store.cached_result(e, m, t) or await request.app.state.pool.run(
            store.result, e, m, t)
        rows = corrections.check_rows(body.get("rows"), float(d["duration_s"]))
        fixed = corrections.corrected_result(d, rows)
        where = store.folder if e.id.startswith("upload:") else e.path.parent
        paths = write_named(where, name, {"tsv": tsv_text(rows), "json": json_text(fixed)})
        rel = [p.relative_to(store.folder).as_posix() for p in paths.values()]
        return _json({"written": rel}, status=201)


def add_routes(app: FastAPI) -> None:
    """Every route: the page, health, options, analysis, signals, folder, corrections."""
    static = Path(__file__).parent / "static"

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/health", tags=["server"], summary="Version, folder, pool state")
    async def health(request: Request) -> JSONResponse:
        s, pool = request.app.state.store, request.app.state.pool
        return JSONResponse({"version": __version__, "folder": s.folder is not None,
                             "workers": pool.workers, "queue": pool.queue,
                             "busy": pool.taken, "max_upload_bytes": request.app.state
                             .max_upload, "methods": sorted(METHODS),
                             "default_method": DEFAULT_METHOD, "tasks": list(TASKS)})

    _add_analysis_routes(app)
    _add_signal_routes(app)
    _add_folder_routes(app)
    _add_correction_routes(app)
