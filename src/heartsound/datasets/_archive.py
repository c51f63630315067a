"""Safe unpacking for :mod:`heartsound.datasets.download`.

:func:`extract` unpacks a zip or tar archive and refuses, before anything is written,
members that would leave the target folder (absolute paths, ``..``) or that are links
or devices. :func:`find_root` locates the corpus folder in what was unpacked.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from ..errors import DatasetError
from ._remote import CHUNK

__all__ = ["extract", "find_root"]


@dataclass(frozen=True)
class _Member:
    """One archive member, the same for zip and tar.

    ``refuse`` says why the member must not be extracted (``"a symbolic link"``), or is
    None; ``open`` returns its content stream (None when there is none).
    """

    name: str
    is_dir: bool
    refuse: str | None
    open: Callable[[], IO[bytes] | None]


def _zip_members(zf: zipfile.ZipFile) -> list[_Member]:
    return [_Member(m.filename, m.is_dir(),
                    "a symbolic link" if stat.S_ISLNK(m.external_attr >> 16) else None,
                    partial(zf.open, m))
            for m in zf.infolist()]


def _tar_members(tf: tarfile.TarFile) -> list[_Member]:
    return [_Member(m.name, m.isdir(),
                    None if (m.isfile() or m.isdir()) else "a link or device",
                    partial(tf.extractfile, m))
            for m in tf.getmembers()]


def _safe_target(archive: Path, root: Path, name: str) -> Path:
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DatasetError(f"{archive}: member {name!r} has an absolute path; "
                           f"refusing to extract")
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise DatasetError(f"{archive}: member {name!r} would be written outside {root}; "
                           f"refusing to extract")
    return target


def _write_members(archive: Path, root: Path, members: list[_Member]) -> list[Path]:
    """Check every member, then write them; returns the files written."""
    targets = []
    for m in members:
        targets.append(_safe_target(archive, root, m.name))
        if m.refuse:
            raise DatasetError(f"{archive}: member {m.name!r} is {m.refuse}; "
                               f"refusing to extract")
    written: list[Path] = []
    for m, target in zip(members, targets):
        if m.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        src = m.open()
        if src is None:
            continue
        with src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        written.append(target)
    return written


def _is_tar(archive: Path) -> bool:
    try:
        return tarfile.is_tarfile(archive)
    except OSError:
        return False


def extract(archive: str | Path, to: str | Path) -> list[Path]:
    """Unpack a zip or tar archive into ``to``, refusing members that would escape it.

    Members with absolute paths, ``..`` components, or links (symbolic or hard) are
    rejected before anything is written.

    Parameters
    ----------
    archive : str or Path
        A zip file or a (possibly compressed) tar file.
    to : str or Path
        Target folder (created).

    Returns
    -------
    list of Path
        The extracted files.

    Raises
    ------
    DatasetError
        Not a zip/tar archive, corrupt, or an unsafe member.
    """
    archive, to = Path(archive), Path(to)
    to.mkdir(parents=True, exist_ok=True)
    root = to.resolve()
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                return _write_members(archive, root, _zip_members(zf))
        except (zipfile.BadZipFile, EOFError) as exc:
            raise DatasetError(f"{archive}: corrupt zip archive ({exc})") from None
    if not _is_tar(archive):
        raise DatasetError(f"{archive}: not a zip or tar archive")
    try:
        with tarfile.open(archive) as tf:
            return _write_members(archive, root, _tar_members(tf))
    except tarfile.TarError as exc:
        raise DatasetError(f"{archive}: corrupt tar archive ({exc})") from None


def find_root(folder: str | Path, marker: str, *, max_depth: int = 3) -> Path | None:
    """The shallowest folder under ``folder`` (itself included) that holds ``marker``.

    Folders are searched breadth-first, in name order, at most ``max_depth`` levels
    below ``folder``; ``__MACOSX`` folders are skipped.
    """
    frontier = [Path(folder)]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for d in sorted(frontier):
            if (d / marker).is_file():
                return d
            try:
                nxt.extend(p for p in d.iterdir() if p.is_dir() and p.name != "__MACOSX")
            except OSError:
                continue
        frontier = nxt
    return None
