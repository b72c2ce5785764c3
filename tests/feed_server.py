"""A real HTTP server on 127.0.0.1 that serves feeds the way tests tell it to."""

from __future__ import annotations

import gzip
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None


class FeedServer:
    def __init__(self, poll_interval: float = 0.5) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                route = server.routes.get(self.path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.handler is not None:
                    route.handler(self)
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self._send(304, b"", {"ETag": route.etag})
                    return
                if (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                ):
                    self._send(304, b"", {})
                    return
                headers = {"Content-Type": "application/rss+xml; charset=utf-8", **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                if route.last_modified:
                    headers["Last-Modified"] = route.last_modified
                body = route.body
                if route.gzip:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self._send(route.status, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        # Set when the server shuts down, so handlers that stall on purpose can let go.
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(poll_interval,), daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [h for p, h in self.requests if p == path]


@contextmanager
def running_feed_server(poll_interval: float = 0.5) -> Iterator[FeedServer]:
    """`poll_interval` is how often serve_forever checks for shutdown (what stopping costs)."""
    server = FeedServer(poll_interval)
    server.thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.httpd.shutdown()
        server.httpd.server_close()


# --- Misbehaving handlers (for Route.handler) -------------------------------------------------

Handler = Callable[[BaseHTTPRequestHandler], None]


def _headers(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()


def silent(server: FeedServer, limit: float = 60.0) -> Handler:
    """Accept the request and never answer (until the server stops)."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        server.stopping.wait(limit)
        h.close_connection = True

    return handler


def trickle(server: FeedServer, byte_every: float = 0.2, limit: float = 60.0) -> Handler:
    """Send headers, then one byte at a time: every read succeeds, the body never ends."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        _headers(h, 200, {"Content-Type": "application/rss+xml", "Content-Length": "100000"})
        deadline = time.monotonic() + limit
        try:
            while not server.stopping.wait(byte_every) and time.monotonic() < deadline:
                h.wfile.write(b" ")
                h.wfile.flush()
        except OSError:
            pass
        h.close_connection = True

    return handler


def hang_up() -> Handler:
    """Close the connection without sending anything."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True

    return handler


def raw_reply(data: bytes) -> Handler:
    """Write these bytes as the whole answer (e.g. a broken status line), then close."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(data)
        h.wfile.flush()
        h.close_connection = True

    return handler


def reset_mid_body(body: bytes, sent: int) -> Handler:
    """Promise the whole body, send `sent` bytes of it, then reset the TCP connection."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        _headers(
            h,
            200,
            {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))},
        )
        h.wfile.write(body[:sent])
        h.wfile.flush()
        time.sleep(0.05)
        conn: socket.socket = h.connection  # type: ignore[assignment]
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.close_connection = True
        h.rfile.close()
        h.wfile.close()
        conn.close()  # linger 0: the kernel sends RST, not FIN
        h.wfile = io.BytesIO()  # the server's own flush after us has somewhere to go

    return handler


def endless_bytes(
    total: int,
    declare_length: bool,
    chunk: bytes = b"<!-- padding -->" * 4096,
    headers: dict[str, str] | None = None,
) -> Handler:
    """Stream `total` bytes generated on the fly (never held in memory), with or without a
    Content-Length; a client that gives up early just ends it."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        hdrs = {"Content-Type": "application/rss+xml", **(headers or {})}
        if declare_length:
            hdrs["Content-Length"] = str(total)
        else:
            hdrs["Connection"] = "close"
        _headers(h, 200, hdrs)
        h.close_connection = True
        left = total
        try:
            h.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>')
            while left > 0:
                piece = chunk[:left]
                h.wfile.write(piece)
                left -= len(piece)
        except OSError:
            pass

    return handler


def gzip_bomb(inflated_gib: int, content_encoding: bool = True) -> Handler:
    """One valid gzip stream that inflates to `inflated_gib` GiB of zeros after an XML start;
    about 1 MB on the wire per GiB. The repeated block is compressed once, up front."""
    block = b"\0" * (10 * 1024 * 1024)
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = c.compress(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
    head += c.flush(zlib.Z_FULL_FLUSH)
    middle = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush()
    repeats = inflated_gib * 1024 // 10

    def handler(h: BaseHTTPRequestHandler) -> None:
        hdrs = {
            "Content-Type": "application/rss+xml",
            "Content-Length": str(len(head) + len(middle) * repeats + len(tail)),
        }
        if content_encoding:
            hdrs["Content-Encoding"] = "gzip"
        _headers(h, 200, hdrs)
        h.close_connection = True
        try:
            h.wfile.write(head)
            for _ in range(repeats):
                h.wfile.write(middle)
            h.wfile.write(tail)
        except OSError:
            pass

    return handler


def rfc822_ago(**delta: float) -> str:
    """A pubDate relative to now: fixtures must stay "recent news" whatever day tests run."""
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    return format_datetime(datetime.now(UTC) - timedelta(**delta), usegmt=True)


def rss(items: list[dict[str, str]], title: str = "Test feed", extra: str = "") -> bytes:
    """Build an RSS 2.0 document from our own fixture items."""
    from xml.sax.saxutils import escape

    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>http://example.org/</link>{extra}",
    ]
    for it in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "description", "pubDate"):
            if key in it:
                parts.append(f"<{key}>{escape(it[key])}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")
