"""Multipart uploads streamed into a private folder, with the size limit enforced while
the body arrives (never after it has been read whole).

The file part is written to ``<dest>/<n>`` (created ``0600``); other fields are kept in
memory, up to :data:`MAX_FIELD_BYTES` each. Whether the file is audio is decided later,
by its content (:mod:`heartsound.web.store`), never by its name.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import HeartsoundError, ParameterError

__all__ = ["Upload", "TooLarge", "read_multipart", "read_limited", "MAX_FIELD_BYTES"]

#: Largest non-file field (bytes).
MAX_FIELD_BYTES = 4096


class TooLarge(HeartsoundError):
    """The request body is larger than the limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        super().__init__(f"upload larger than the limit of {self.limit / 2**20:.1f} MB "
                         "(--max-upload-mb)")


@dataclass
class Upload:
    """A parsed multipart body: the saved file (``None`` without one), its client-side
    name (display only, never used as a path) and the text fields."""

    path: Path | None = None
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


class _Collector:
    """python-multipart callbacks writing the first file part named ``file_field``."""

    def __init__(self, dest: Path, file_field: str) -> None:
        self.dest, self.file_field = dest, file_field
        self.out = Upload()
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self._name: str | None = None
        self._fh: int | None = None
        self._buf: bytearray | None = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield,
                "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._hdone, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._name, self._buf, self._fh = {}, None, None, None

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _hend(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _hdone(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        is_file = b"filename" in opts
        if is_file and self._name == self.file_field and self.out.path is None:
            path = self.dest / "upload"
            self._fh = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self.out.path = path
            self.out.filename = opts[b"filename"].decode("utf-8", "replace")[-200:]
        elif not is_file:
            self._buf = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._fh is not None:
            os.write(self._fh, data[start:end])
        elif self._buf is not None:
            self._buf += data[start:end]
            if len(self._buf) > MAX_FIELD_BYTES:
                raise ParameterError(f"form field {self._name!r} longer than "
                                     f"{MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if self._fh is not None:
            os.close(self._fh)
            self._fh = None
        elif self._buf is not None and self._name:
            self.out.fields[self._name] = self._buf.decode("utf-8", "replace")

    def close(self) -> None:
        if self._fh is not None:
            os.close(self._fh)
            self._fh = None


async def read_multipart(stream: AsyncIterator[bytes], content_type: str, dest: Path,
                         max_bytes: int, *, file_field: str = "file") -> Upload:
    """Parse a ``multipart/form-data`` body chunk by chunk into ``dest``.

    Parameters
    ----------
    stream : async iterator of bytes
        The request body (``request.stream()``).
    content_type : str
        The request's ``Content-Type`` (with its boundary).
    dest : Path
        A private folder the file part is written to.
    max_bytes : int
        Body size limit; counting stops the upload as soon as it is passed.

    Raises
    ------
    TooLarge
        More than ``max_bytes`` arrived (the rest is not read).
    ParameterError
        Not ``multipart/form-data``, no boundary, a malformed body or a field too long.
    """
    ctype, opts = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or not opts.get(b"boundary"):
        raise ParameterError("expected a multipart/form-data body with a 'file' part")
    col = _Collector(dest, file_field)
    parser = MultipartParser(opts[b"boundary"], col.callbacks())
    seen = 0
    try:
        async for chunk in stream:
            seen += len(chunk)
            if seen > max_bytes:
                raise TooLarge(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except (HeartsoundError, OSError):
        raise
    except Exception as exc:  # python-multipart's own parse errors
        raise ParameterError(f"malformed multipart body ({exc})") from None
    finally:
        col.close()
    return col.out


async def read_limited(stream: AsyncIterator[bytes], max_bytes: int) -> bytes:
    """The whole body of a small request, refused with :class:`TooLarge` past
    ``max_bytes``."""
    buf = bytearray()
    async for chunk in stream:
        buf += chunk
        if len(buf) > max_bytes:
            raise TooLarge(max_bytes)
    return bytes(buf)
