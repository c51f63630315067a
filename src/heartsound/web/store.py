"""The recordings the app can show, and their results.

Two sources: the files under FOLDER (read-only, listed by extension, each opened through
:func:`~heartsound.web.safety.resolve_inside` so nothing outside FOLDER is reachable) and
uploads (kept in the app's private temporary folder, at most :data:`MAX_UPLOADS`, the
oldest removed first; the folder is deleted when the app stops).

A recording's id is its POSIX path relative to FOLDER, or ``upload:<hex>``. Results
(``Analysis.to_dict()``) are cached per (id, file stamp, method, tasks); a folder file
with a ``<stem>.heartsound.json`` beside it (written by ``heartsound analyze`` or
``batch``) is listed with that file's quality, heart rate and labels before it is opened.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from ..errors import AudioError, NotAudioError
from ..io import Recording, load
from ..pipeline import Analysis, analyze
from ..report import is_heartsound_output, output_name
from .safety import NotFound, resolve_inside

__all__ = ["Store", "Entry", "AUDIO_SUFFIXES", "MAX_UPLOADS", "MAX_LISTED", "summary",
           "check_audio"]

#: Extensions listed in FOLDER (the content is still checked when a file is opened).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".opus"})
#: Uploads kept for the viewer; older ones are removed.
MAX_UPLOADS = 32
#: Most files listed from FOLDER.
MAX_LISTED = 20_000
#: Results and recordings kept in memory.
_MAX_RESULTS, _MAX_RECORDINGS, _MAX_ANALYSES = 2048, 6, 4
UPLOAD_PREFIX = "upload:"


def check_audio(path: Path, name: str) -> None:
    """Raise :class:`NotAudioError` naming ``name`` unless libsndfile reads ``path`` by
    its content."""
    try:
        sf.info(str(path))
    except Exception as exc:  # soundfile raises RuntimeError or its LibsndfileError
        raise NotAudioError(name, str(exc).split(": ", 1)[-1][:200]) from None


def summary(d: dict[str, Any]) -> dict[str, Any]:
    """The list row of a result: quality, heart rate and each task's label."""
    q = d.get("quality") or {}
    cls = d.get("classification") or {}
    return {"analysed": True, "duration_s": d.get("duration_s"), "usable": q.get("usable"),
            "quality_score": q.get("score"), "heart_rate_bpm": d.get("heart_rate_bpm"),
            "labels": {t: c.get("label") for t, c in cls.items()},
            "uncertain": any(bool(c.get("uncertain")) for c in cls.values())}


@dataclass
class Entry:
    """One recording: ``id``, display ``name``, the file ``path`` and its ``stamp``
    (size, mtime) that keys the caches."""

    id: str
    name: str
    path: Path

    @property
    def stamp(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_size, st.st_mtime_ns


class _Lru(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def hit(self, key: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None


class Store:
    """Recordings of ``folder`` and of uploads, with cached results.

    Parameters
    ----------
    folder : Path or None
        The served folder (``None``: uploads only).
    upload_dir : Path
        A private folder for uploads (the app removes it when it stops).
    """

    def __init__(self, folder: Path | None, upload_dir: Path) -> None:
        self.folder = None if folder is None else Path(folder).resolve()
        self.upload_dir = upload_dir
        self._uploads: OrderedDict[str, Entry] = OrderedDict()
        self._results, self._recs = _Lru(_MAX_RESULTS), _Lru(_MAX_RECORDINGS)
        self._analyses = _Lru(_MAX_ANALYSES)
        self._lock = threading.Lock()

    # --- recordings -------------------------------------------------------------------
    def entry(self, rid: str) -> Entry:
        """The recording ``rid``.

        Raises
        ------
        NotFound
            Unknown upload, no folder, or a path that is not a file inside FOLDER.
        """
        if rid.startswith(UPLOAD_PREFIX):
            with self._lock:
                e = self._uploads.get(rid)
            if e is None or not e.path.is_file():
                raise NotFound(f"{rid!r}: no such upload (uploads are kept for the last "
                               f"{MAX_UPLOADS} only)")
            return e
        if self.folder is None:
            raise NotFound(f"{rid!r}: no folder is served")
        path = resolve_inside(self.folder, rid)
        return Entry(rid, rid, path)

    @staticmethod
    def new_upload(path: Path, name: str) -> Entry:
        """An entry for the upload at ``path`` (a file alone in its private folder), with
        a fresh id; :meth:`keep` makes it visible."""
        return Entry(UPLOAD_PREFIX + secrets.token_hex(8), Path(name).name or "upload", path)

    def keep(self, e: Entry) -> None:
        """List the upload ``e`` for the viewer; the oldest beyond :data:`MAX_UPLOADS`
        are removed with their folder."""
        with self._lock:
            self._uploads[e.id] = e
            old = [self._uploads.popitem(last=False)[1]
                   for _ in range(max(0, len(self._uploads) - MAX_UPLOADS))]
        for o in old:
            shutil.rmtree(o.path.parent, ignore_errors=True)

    def folder_entries(self) -> list[Entry]:
        """Audio files under FOLDER by extension (links followed only when they stay
        inside), sorted by path, at most :data:`MAX_LISTED`."""
        if self.folder is None:
            return []
        out: list[Entry] = []
        for dirpath, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if Path(f).suffix.lower() not in AUDIO_SUFFIXES or f.startswith("."):
                    continue
                rel = (Path(dirpath) / f).relative_to(self.folder).as_posix()
                try:
                    out.append(self.entry(rel))
                except NotFound:
                    continue  # a link out of FOLDER, or a broken one
                if len(out) >= MAX_LISTED:
                    return out
        return out

    def upload_entries(self) -> list[Entry]:
        with self._lock:
            return list(self._uploads.values())

    # --- results ----------------------------------------------------------------------
    def recording(self, e: Entry) -> Recording:
        """The validated samples of ``e`` (cached for the last few)."""
        key = (e.id, e.stamp)
        rec = self._recs.hit(key)
        if rec is None:
            check_audio(e.path, e.name)
            try:
                rec = load(e.path)
            except AudioError as exc:
                raise type(exc)(e.name, exc.detail) from None
            self._recs.put(key, rec)
        return rec

    def cached_result(self, e: Entry, method: str, tasks: tuple[str, ...]
                      ) -> dict[str, Any] | None:
        return self._results.hit((e.id, e.stamp, method, tasks))

    def analysis(self, e: Entry, method: str, tasks: tuple[str, ...], cache: bool = True
                 ) -> tuple[Analysis, dict]:
        """Analyse ``e`` (blocking; run it in the pool): the Analysis and its dict, whose
        ``source`` is the recording's name (no server path); kept in the caches when
        ``cache``. An :class:`~heartsound.errors.AudioError` names the recording too."""
        check_audio(e.path, e.name)
        try:
            a = analyze(e.path, method=method, tasks=tasks)
        except AudioError as exc:
            raise type(exc)(e.name, exc.detail) from None
        d = a.to_dict()
        d["source"] = e.name
        if cache:
            key = (e.id, e.stamp, method, tasks)
            self._results.put(key, d)
            self._analyses.put(key, a)
        return a, d

    def result(self, e: Entry, method: str, tasks: tuple[str, ...]) -> dict[str, Any]:
        """The cached result of ``e`` or a new analysis (blocking)."""
        return self.cached_result(e, method, tasks) or self.analysis(e, method, tasks)[1]

    def figure(self, e: Entry, method: str, tasks: tuple[str, ...]) -> bytes:
        """The report figure (PNG, :func:`heartsound.plotting.figure_png` marked by
        :func:`heartsound.report.mark_png`) of ``e``."""
        from ..plotting import figure_png
        from ..report import mark_png

        key = (e.id, e.stamp, method, tasks)
        a, d = self._analyses.hit(key), self._results.hit(key)
        if a is None or d is None:
            a, d = self.analysis(e, method, tasks)
        return mark_png(figure_png(a, data=d))

    def sidecar(self, e: Entry) -> dict[str, Any] | None:
        """``<stem>.heartsound.json`` beside a folder file, when heartsound wrote it."""
        if e.id.startswith(UPLOAD_PREFIX):
            return None
        p = e.path.with_name(output_name(Path(e.path.name).stem, "json"))
        if not is_heartsound_output(p):
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def row(self, e: Entry, method: str, tasks: tuple[str, ...]) -> dict[str, Any]:
        """The list row of ``e``: id, name, and the summary of a known result."""
        d = self.cached_result(e, method, tasks) or self.sidecar(e)
        base = {"id": e.id, "name": e.name, "upload": e.id.startswith(UPLOAD_PREFIX)}
        if d is None:
            return {**base, "analysed": False, "labels": {}}
        return {**base, **summary(d)}
