"""What keeps the web app safe by default: paths confined to FOLDER, the access token,
and the names a user may save under.

Only the standard library and :mod:`heartsound.errors` are imported.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path, PurePosixPath

from ..errors import HeartsoundError, ParameterError

__all__ = ["NotFound", "Forbidden", "resolve_inside", "is_loopback", "new_token",
           "token_matches", "check_save_name", "SAVE_NAME"]

#: A name to save a corrected segmentation under: letters, digits, ``._-`` (no leading
#: dot), at most 100 characters; ``.heartsound.<kind>`` is appended.
SAVE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class NotFound(HeartsoundError, LookupError):
    """No such recording or file (also what any path outside FOLDER gets)."""


class Forbidden(HeartsoundError, PermissionError):
    """The request is not allowed (no folder to save into, a foreign origin...)."""


def resolve_inside(root: Path, rel: str) -> Path:
    """The existing file ``root/rel`` after resolving every link, when it lies inside
    ``root``.

    Parameters
    ----------
    root : Path
        The served folder, already resolved.
    rel : str
        A relative POSIX path as the list gives it.

    Raises
    ------
    NotFound
        ``rel`` is empty, absolute, has a ``..`` or a NUL, does not exist, is not a regular
        file, or resolves (through a symlink) outside ``root``. The message never says
        which, so a probe learns nothing about the file system.
    """
    missing = NotFound(f"{rel!r}: no such recording in the folder")
    p = PurePosixPath(rel)
    if not rel or "\0" in rel or p.is_absolute() or ".." in p.parts or rel.startswith("~"):
        raise missing
    try:
        full = (root / p).resolve(strict=True)
    except (OSError, RuntimeError):
        raise missing from None
    if not full.is_relative_to(root) or not full.is_file():
        raise missing
    return full


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random URL-safe token (32 bytes of entropy)."""
    return secrets.token_urlsafe(32)


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the server's."""
    return given is not None and secrets.compare_digest(given.encode(), token.encode())


def check_save_name(name: str) -> str:
    """``name`` when it is a plain file stem of :data:`SAVE_NAME` (no folder, no ``..``).

    Raises
    ------
    ParameterError
        Naming the problem.
    """
    if not isinstance(name, str) or not SAVE_NAME.fullmatch(name) or ".." in name:
        raise ParameterError(f"name {name!r}: use 1-100 letters, digits, '.', '_' or '-' "
                             "(not starting with '.', no '..'); .heartsound.tsv is added")
    return name
