"""An ASGI middleware that checks every request before the app sees it: the access token
(when one is set), the ``Host`` header (DNS rebinding) and the ``Origin`` of requests that
change something (cross-site requests), and the declared size of a body.

The token may come as ``Authorization: Bearer <token>``, as ``?token=<token>`` (for
``<audio>`` and ``<img>`` tags and the first page load) or as the ``heartsound_token``
cookie the app sets when the page is opened with ``?token=``. Missing: 401; wrong: 403.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .safety import is_loopback, token_matches

__all__ = ["Guard", "COOKIE"]

#: Cookie holding the token once the page was opened with ``?token=``.
COOKIE = "heartsound_token"

Scope = dict[str, Any]
Asgi = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]],
                Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _deny(send: Callable[[dict], Awaitable[None]], status: int, message: str,
                extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": message, "status": status}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Wraps ``app``.

    Parameters
    ----------
    token : str or None
        Required on every request when set.
    allowed_hosts : set of str or None
        Host names accepted in the ``Host`` header; ``None`` accepts loopback names only
        when there is no token, any host with one.
    max_body : int
        A declared ``Content-Length`` above this is refused with 413 before reading.
    """

    def __init__(self, app: Asgi, *, token: str | None, allowed_hosts: set[str] | None,
                 max_body: int) -> None:
        self.app, self.token, self.hosts, self.max_body = app, token, allowed_hosts, max_body

    def _host_ok(self, host: str) -> bool:
        name = urlsplit(f"//{host}").hostname or ""
        if self.hosts is not None:
            return name in self.hosts
        return self.token is not None or is_loopback(name)

    def _presented(self, scope: Scope, h: dict[str, str]) -> tuple[str | None, bool]:
        auth = h.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        q = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if q:
            return q[0], True
        jar = SimpleCookie()
        try:
            jar.load(h.get("cookie", ""))
        except Exception:  # a malformed cookie header is no token
            return None, False
        return (jar[COOKIE].value if COOKIE in jar else None), False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        h = _headers(scope)
        if not self._host_ok(h.get("host", "")):
            await _deny(send, 403, "Host header not allowed (start with --host and --token "
                                   "to serve other names)")
            return
        origin = h.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin not in (None, "null") and \
                urlsplit(origin).netloc != h.get("host"):
            await _deny(send, 403, "cross-origin request refused")
            return
        if self.token is not None:
            given, in_query = self._presented(scope, h)
            if given is None:
                await _deny(send, 401, "a token is required: Authorization: Bearer <token> "
                                       "or ?token=<token>",
                            [(b"www-authenticate", b"Bearer")])
                return
            if not token_matches(given, self.token):
                await _deny(send, 403, "wrong token")
                return
            if in_query and scope["path"] == "/":
                send = self._with_cookie(send)
        length = h.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _deny(send, 413, f"body of {int(length)} bytes is larger than the limit "
                                   f"of {self.max_body} bytes (--max-upload-mb)")
            return
        await self.app(scope, receive, send)

    def _with_cookie(self, send: Any) -> Any:
        cookie = (f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict").encode()

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                   (b"set-cookie", cookie)]}
            await send(message)
        return wrapped
