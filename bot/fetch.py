"""Fetching one feed over HTTP: conditional GET, redirects we can report, and hard limits.

Every failure becomes a FetchResult with a one-sentence error; nothing here raises.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

# httpcore runs `import sniffio` on every request; when sniffio is not installed (it is
# optional), each failed import searched sys.path again: ~0.7 ms per request, a third of a
# warm pass. A None entry makes the import fail at once, exactly as "not installed" does.
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


def make_client(
    user_agent: str,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        headers={
            "User-Agent": user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        },
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=False,
        # httpcore scans every pooled connection for each request: a big pool costs more
        # CPU than the connects it saves.
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
    )


async def fetch_feed(
    client: httpx.AsyncClient,
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
        return FetchResult(url, error=f"the request failed ({type(exc).__name__}: {exc})")


async def _fetch(
    client: httpx.AsyncClient,
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
            async with client.stream("GET", current, headers=headers) as resp:
                if resp.status_code in REDIRECTS:
                    location = resp.headers.get("location", "").strip()
                    if not location:
                        return FetchResult(
                            url,
                            status=resp.status_code,
                            error=f"the server answered {resp.status_code} "
                            "(a redirect) without saying where to",
                        )
                    target = urljoin(current, location)
                    if not target.lower().startswith(("http://", "https://")):
                        return FetchResult(
                            url,
                            status=resp.status_code,
                            error=f"the server redirected to a non-web address ({target[:200]})",
                        )
                    all_permanent = all_permanent and resp.status_code in PERMANENT
                    if all_permanent:
                        moved_to = target
                    if target in seen:
                        return FetchResult(
                            url, status=resp.status_code, error=f"redirect loop at {target}"
                        )
                    seen.add(target)
                    current = target
                    continue
                result = FetchResult(
                    url,
                    status=resp.status_code,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    final_url=current,
                    moved_to=moved_to,
                )
                if resp.status_code == 304:
                    # A 304 has no body, but leaving without reading its (empty) end made
                    # httpcore close the connection: every warm fetch paid a new TCP connect.
                    await _read_capped(resp, 64 * 1024)
                    return result
                if resp.status_code >= 400:
                    result.error = _status_error(resp.status_code, resp.reason_phrase)
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
        except httpx.TimeoutException as exc:
            return FetchResult(url, error=f"timed out ({type(exc).__name__})")
        except httpx.DecodingError:
            return FetchResult(url, error="the compressed body could not be decoded")
        except httpx.InvalidURL as exc:
            return FetchResult(url, error=f"the URL is not valid ({exc})")
        except httpx.HTTPError as exc:
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


async def _read_capped(resp: httpx.Response, max_bytes: int) -> bytes:
    """Read the decoded body but stop at the cap, inflating gzip/deflate ourselves in bounded
    steps so a compression bomb is refused after max_bytes, not after it filled memory."""
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    stream: AsyncIterator[bytes]
    inflater: _Inflater | None = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater(encoding)
        stream = resp.aiter_raw()
    elif encoding in ("", "identity"):
        stream = resp.aiter_raw()
    else:  # br, zstd... (we never ask for them): let httpx decode, then cap
        stream = resp.aiter_bytes()
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


def _network_error(exc: httpx.HTTPError) -> str:
    text = str(exc) or _os_cause(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({text})"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return f"the connection broke mid-answer ({text})"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"the address is not an http(s) URL ({text})"
    return f"network error ({text})"


def _os_cause(exc: BaseException) -> str:
    """httpx's ReadError often has an empty message; the OSError under it says what happened."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(5):
        if seen is None:
            break
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return ""
