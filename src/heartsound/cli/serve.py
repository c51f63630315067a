"""``heartsound serve``: the web app and HTTP API on 127.0.0.1 (:mod:`heartsound.web`).

Safe by default: it binds the loopback interface; any other ``--host`` needs a token
(``--token T``, or one is generated and printed) that every request must carry. FastAPI
and uvicorn (the ``web`` extra) are imported when the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ParameterError

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``heartsound serve``."""
    p.add_argument("folder", nargs="?", type=Path, metavar="FOLDER",
                   help="recordings to browse (read-only); corrected segmentations are "
                        "saved in it as <name>.heartsound.tsv/.json (default: uploads only)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: %(default)s); any non-loopback address "
                        "requires a token")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--token", default=os.environ.get("HEARTSOUND_TOKEN"),
                   help="token every request must carry (Authorization: Bearer T or "
                        "?token=T; default: $HEARTSOUND_TOKEN; generated and printed when "
                        "--host is not loopback)")
    p.add_argument("--max-upload-mb", type=float, default=128.0, metavar="N",
                   help="largest upload in MB (default: %(default)s)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="analyses run at once, one thread each (default: %(default)s)")
    p.add_argument("--queue", type=int, default=64, metavar="N",
                   help="requests that may wait for a worker; more get 503 (default: "
                        "%(default)s)")


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns 0."""
    from ..web.jobs import limit_threads
    from ..web.safety import is_loopback, new_token

    if args.workers < 1 or args.queue < 0 or args.max_upload_mb <= 0:
        raise ParameterError("--workers must be >= 1, --queue >= 0, --max-upload-mb > 0")
    if not 0 < args.port < 65536:
        raise ParameterError(f"--port {args.port}: not a port number")
    limit_threads()
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as exc:
        raise ParameterError(f"serve needs the web extra: pip install 'heartsound[web]' "
                             f"({exc})") from None
    token = args.token
    if token is None and not is_loopback(args.host):
        token = new_token()
        print(f"heartsound: token (required on every request): {token}", file=sys.stderr,
              flush=True)
    app = create_app(args.folder, token=token,
                     max_upload_bytes=int(args.max_upload_mb * 2**20),
                     workers=args.workers, queue=args.queue)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"heartsound: serving on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=5)
    return 0
