"""A fast local feed server for benchmarks: N generated feeds on many loopback addresses.

Run by bench/poll_bench.py in a child process; stdlib only (asyncio streams and a minimal
HTTP/1.1 responder with keep-alive). Every feed has 20-100 items, an ETag and a
Last-Modified date, answers 304 to either validator, and is sent gzip-compressed when the
client accepts it. Feeds are spread over `hosts` addresses 127.0.1.1..127.0.1.N so that the
pollers' per-host limits behave as with real, many-publisher feed lists.

    python bench/feedfarm.py --feeds 1000 --hosts 50 --port 0   # prints "READY <port>"
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import random
import socket
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

WORDS = [
    "the",
    "government",
    "court",
    "report",
    "human",
    "rights",
    "council",
    "said",
    "on",
    "monday",
    "official",
    "statement",
    "minister",
    "election",
    "economy",
    "market",
    "trade",
    "weather",
    "football",
    "match",
    "city",
    "police",
    "protest",
    "village",
    "water",
    "energy",
    "school",
    "hospital",
    "health",
    "climate",
    "research",
    "university",
    "technology",
    "company",
    "shares",
    "bank",
    "inflation",
    "budget",
    "parliament",
    "vote",
    "agreement",
    "talks",
    "border",
    "security",
    "refugees",
    "aid",
    "convoy",
    "ceasefire",
    "investigation",
    "prosecutors",
    "evidence",
    "witnesses",
    "hearing",
]
# Sentences that the shipped rules care about, so classification does real work.
RELEVANT = [
    "Judges at the International Court of Justice heard arguments that Syria breached the "
    "Convention against Torture in its detention centres.",
    "A German court convicted a former Syrian intelligence officer of crimes against humanity "
    "under universal jurisdiction.",
    "The Caesar photos document thousands of detainees who died in Syrian government prisons.",
    "محكمة ألمانية تدين ضابط مخابرات سوري سابق بارتكاب جرائم ضد الإنسانية",
    "La justice française émet un mandat d'arrêt contre Bachar al-Assad pour complicité de "
    "crimes contre l'humanité.",
]


def feed_path(i: int) -> str:
    return f"/feeds/{i}.xml"


def feed_host(i: int, hosts: int) -> str:
    return f"127.0.1.{1 + i % hosts}"


def feed_urls(n: int, hosts: int, port: int) -> list[str]:
    return [f"http://{feed_host(i, hosts)}:{port}{feed_path(i)}" for i in range(n)]


def make_feed(i: int, now: datetime) -> bytes:
    rng = random.Random(i)
    n_items = rng.randint(20, 100)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>Bench feed {i}</title><link>http://publisher{i}.example/</link>",
        "<description>generated</description><language>en</language>",
    ]
    for j in range(n_items):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize()
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90)))
        if rng.random() < 0.1:
            body = rng.choice(RELEVANT) + " " + body
        when = now - timedelta(days=3 + j % 20, minutes=rng.randint(0, 1440))
        parts.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            f"<link>http://publisher{i}.example/news/{j}-{rng.randint(0, 10**9)}</link>"
            f'<guid isPermaLink="false">bench-{i}-{j}</guid>'
            f"<description>{escape('<p>' + body + '</p>')}</description>"
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


class Farm:
    def __init__(self, n: int) -> None:
        now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        self.plain: dict[str, bytes] = {}
        self.gz: dict[str, bytes] = {}
        self.etag: dict[str, str] = {}
        self.lastmod = format_datetime(now - timedelta(hours=1), usegmt=True)
        for i in range(n):
            body = make_feed(i, now)
            path = feed_path(i)
            self.plain[path] = body
            self.gz[path] = gzip.compress(body, 6)
            self.etag[path] = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        self.requests = 0
        self.not_modified = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = [*lines[0].split(" "), "", "", ""][:3]
                hdrs = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        hdrs[k.strip().lower()] = v.strip()
                self.requests += 1
                writer.write(self.respond(method, target, hdrs))
                await writer.drain()
                if hdrs.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def respond(self, method: str, target: str, hdrs: dict[str, str]) -> bytes:
        path = target.split("?", 1)[0]
        if path not in self.plain:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        etag = self.etag[path]
        common = f"ETag: {etag}\r\nLast-Modified: {self.lastmod}\r\n"
        if hdrs.get("if-none-match") == etag or (
            "if-none-match" not in hdrs and hdrs.get("if-modified-since") == self.lastmod
        ):
            self.not_modified += 1
            return f"HTTP/1.1 304 Not Modified\r\n{common}\r\n".encode()
        gz = "gzip" in hdrs.get("accept-encoding", "")
        body = self.gz[path] if gz else self.plain[path]
        enc = "Content-Encoding: gzip\r\n" if gz else ""
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
            f"{common}{enc}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + (body if method != "HEAD" else b"")


def free_port(hosts: int) -> int:
    """A port free on every address we bind (they share one port number)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.1.1", 0))
        port = int(s.getsockname()[1])
        s.close()
        try:
            socks = []
            for h in range(hosts):
                t = socket.socket()
                t.bind((f"127.0.1.{1 + h}", port))
                socks.append(t)
            for t in socks:
                t.close()
            return port
        except OSError:
            continue
    raise SystemExit("no free port")


async def serve(n: int, hosts: int, port: int) -> None:
    farm = Farm(n)
    port = port or free_port(hosts)
    server = await asyncio.start_server(
        farm.handle, host=[f"127.0.1.{1 + h}" for h in range(hosts)], port=port, backlog=1024
    )
    print(f"READY {port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    try:
        asyncio.run(serve(args.feeds, args.hosts, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
