"""Fetching one feed over HTTP: conditional GET, redirects we can report, and hard limits.

Every failure becomes a FetchResult with a one-sentence error; nothing here raises.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import ssl
import sys
import urllib.request
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp

# httpcore (used by httpx, which the Telegram side still uses) runs `import sniffio` on every
# request; when sniffio is not installed (it is optional), each failed import searched
# sys.path again (~0.7 ms per request). A None entry makes the import fail at once, exactly
# as "not installed" does.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

MAX_REDIRECTS = 5
PERMANENT = (301, 308)
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class FetchResult:
    url: str
    status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None
    moved_to: str | None = None  # target of a permanent redirect chain, to report to the admin
    error: str | None = None
    retry_after: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None


class BodyTooLarge(Exception):
    pass


ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# Response header lines longer than aiohttp's default 8 KiB (big Set-Cookie or CSP headers)
# are real; h11 (httpx) allowed ~100 KiB of headers in all.
MAX_HEADER_LINE = 64 * 1024


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's bundle when it is there (it comes with httpx,
    which fetched feeds before and used it), so a slim image without system CAs still works."""
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def make_client(
    user_agent: str,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_connections: int = 100,
) -> aiohttp.ClientSession:
    """The HTTP client for feed fetches (create it inside the running event loop).

    aiohttp, not httpx: a conditional GET cost ~3 ms of CPU in httpx/httpcore/anyio, which
    capped a warm pass at ~300 feeds/s. Bodies arrive as sent (`auto_decompress=False`):
    `_read_capped` inflates them in bounded steps. Redirects are followed by `_fetch`.
    """
    return aiohttp.ClientSession(
        headers={
            "User-Agent": user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
        },
        # The overall deadline is fetch_feed's; these bound each connect and each read.
        timeout=aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout, sock_read=read_timeout
        ),
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, ssl=_tls_context()),
        auto_decompress=False,
        # trust_env stays off: in aiohttp it would also send ~/.netrc passwords to feed hosts
        # (and look them up in a thread per request). Proxies: see _env_proxy.
        max_line_size=MAX_HEADER_LINE,
        max_field_size=MAX_HEADER_LINE,
    )


PROXY_KEYS = ("http", "https", "no")


@functools.cache
def _env_proxies() -> dict[str, str]:
    return {k: v for k, v in urllib.request.getproxies_environment().items() if k in PROXY_KEYS}


def _env_proxy(url: str) -> str | None:
    """HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment, as httpx honoured them."""
    proxies = _env_proxies()
    if not proxies:
        return None
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy


async def fetch_feed(
    client: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 15 * 1024 * 1024,
    deadline: float = 90.0,
) -> FetchResult:
    """Fetch with an overall deadline, so a server that trickles bytes cannot hold a slot."""
    try:
        return await asyncio.wait_for(
            _fetch(client, url, etag, last_modified, max_bytes), timeout=deadline
        )
    except TimeoutError:
        return FetchResult(url, error=f"no complete answer within {deadline:g} s")
    except Exception as exc:  # a bug or an exotic failure must stay this feed's problem
        return FetchResult(
            url, error=_one_line(f"the request failed ({type(exc).__name__}: {exc})")
        )


async def _fetch(
    client: aiohttp.ClientSession,
    url: str,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
) -> FetchResult:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current, seen, all_permanent = url, {url}, True
    moved_to: str | None = None
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            async with client.get(
                current, headers=headers, allow_redirects=False, proxy=_env_proxy(current)
            ) as resp:
                status = resp.status
                if status in REDIRECTS:
                    location = resp.headers.get("location", "").strip()
                    if not location:
                        return FetchResult(
                            url,
                            status=status,
                            error=f"the server answered {status} "
                            "(a redirect) without saying where to",
                        )
                    target = urljoin(current, location)
                    if not target.lower().startswith(("http://", "https://")):
                        return FetchResult(
                            url,
                            status=status,
                            error=f"the server redirected to a non-web address ({target[:200]})",
                        )
                    all_permanent = all_permanent and status in PERMANENT
                    if all_permanent:
                        moved_to = target
                    if target in seen:
                        return FetchResult(url, status=status, error=f"redirect loop at {target}")
                    seen.add(target)
                    current = target
                    continue
                result = FetchResult(
                    url,
                    status=status,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    final_url=current,
                    moved_to=moved_to,
                )
                if status == 304:
                    # Read the (empty) rest so the connection goes back to the pool.
                    await _read_capped(resp, 64 * 1024)
                    return result
                if status >= 400:
                    result.error = _status_error(status, resp.reason or "")
                    result.retry_after = resp.headers.get("retry-after")
                    return result
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    result.error = _too_large(max_bytes)
                    return result
                try:
                    result.body = await _read_capped(resp, max_bytes)
                except BodyTooLarge:
                    result.error = _too_large(max_bytes)
                except _BadCompression as exc:
                    result.error = f"the compressed body could not be decoded ({exc})"
                return result
        except (aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError) as exc:
            return FetchResult(url, error=f"timed out ({type(exc).__name__})")
        except aiohttp.NonHttpUrlClientError as exc:
            return FetchResult(url, error=_one_line(f"the address is not an http(s) URL ({exc})"))
        except aiohttp.InvalidURL as exc:
            return FetchResult(url, error=_one_line(f"the URL is not valid ({exc})"))
        except (aiohttp.ClientError, OSError) as exc:
            return FetchResult(url, error=_network_error(exc))
    return FetchResult(url, error=f"more than {MAX_REDIRECTS} redirects")


class _BadCompression(Exception):
    pass


_PLAIN_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf", b"<!--", b"<!doctype", b"\xef\xbb\xbf<")


class _Inflater:
    """gzip/deflate decoding that never inflates more than the room left under the cap.

    httpx's own decoder inflates each network chunk in one go, so 64 KiB of a gzip bomb
    becomes ~64 MiB in memory before any cap can look at it; this one is bounded by the cap.
    Concatenated gzip members (RFC 1952) are followed; trailing garbage after one is ignored.
    """

    def __init__(self, encoding: str) -> None:
        self.gzip = encoding in ("gzip", "x-gzip")
        self.fresh = True  # nothing decoded by the current decompressor yet
        self.later_member = False
        self.done = False
        self.passthrough = False  # labelled compressed, but the bytes are plain XML
        self.started = False
        self.d = self._new()

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self.gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> list[bytes]:
        if not self.started and data:
            self.started = True
            head = data[:64].lstrip().lower()
            self.passthrough = head.startswith(_PLAIN_STARTS)
        if self.passthrough:
            if len(data) > room:
                raise BodyTooLarge
            return [data]
        out: list[bytes] = []
        while data and not self.done:
            try:
                piece = self.d.decompress(data, max(room, 0) + 1)
            except zlib.error as exc:
                if self.fresh and self.later_member:
                    self.done = True  # junk after a complete gzip member, as httpx ignores
                    break
                if self.fresh and not self.gzip:
                    # "deflate" is often raw deflate without the zlib header.
                    self.d = zlib.decompressobj(-zlib.MAX_WBITS)
                    self.gzip, self.fresh = False, False
                    continue
                raise _BadCompression(str(exc)) from None
            self.fresh = False
            out.append(piece)
            room -= len(piece)
            if room < 0:
                raise BodyTooLarge
            if self.d.unconsumed_tail:
                data = self.d.unconsumed_tail
            elif self.d.eof:
                data = self.d.unused_data.lstrip(b"\x00")
                if not self.gzip:
                    self.done = True
                elif data:
                    self.d, self.fresh, self.later_member = self._new(), True, True
            else:
                data = b""
        return out


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read the decoded body but stop at the cap, inflating gzip/deflate ourselves in bounded
    steps so a compression bomb is refused after max_bytes, not after it filled memory.
    Other codings (br, zstd: we never ask for them) are handed on as sent, as httpx did
    without their decoders installed; the parser then reports the feed as unreadable."""
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    inflater = _Inflater(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None
    stream: AsyncIterator[bytes] = resp.content.iter_any()
    chunks: list[bytes] = []
    size = 0
    async for raw in stream:
        pieces = inflater.feed(raw, max_bytes - size) if inflater else [raw]
        for chunk in pieces:
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> str:
    return f"the body is larger than the {max_bytes // (1024 * 1024)} MiB limit"


def _status_error(status: int, reason: str) -> str:
    hints = {
        404: "the feed was not found (404)",
        410: "the feed is gone for good (410)",
        401: "the server wants a login (401)",
        403: "the server refused access (403)",
        429: "the server asked us to slow down (429)",
        503: "the server is unavailable (503)",
    }
    return hints.get(status, f"the server answered {status} {reason}".rstrip())


def _network_error(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer was not valid HTTP
        return _one_line(f"the connection broke mid-answer (invalid HTTP: {exc.message})")
    text = _one_line(str(exc) or _os_cause(exc) or type(exc).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect ({text})"
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientPayloadError
        | aiohttp.ClientOSError
        | OSError,
    ):
        return f"the connection broke mid-answer ({text})"
    return f"network error ({text})"


def _one_line(text: str, limit: int = 300) -> str:
    """Errors are shown in one line (aiohttp's parser errors quote the bad bytes over lines)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _os_cause(exc: BaseException) -> str:
    """An error with an empty message often has an OSError under it that says what happened."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(5):
        if seen is None:
            break
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return ""
