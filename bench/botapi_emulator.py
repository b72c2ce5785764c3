"""A local Telegram Bot API emulator that enforces Telegram's flood limits, for benchmarks.

Run by bench/fanout_bench.py and bench/latency_bench.py in a child process (aiohttp):

    python bench/botapi_emulator.py --token TOKEN [--port 0]    # prints "READY <port>"

Limits, as Telegram documents them (https://core.telegram.org/bots/faq#broadcasting-to-users):
* a private chat (positive id): at most one message per second;
* a group or channel (negative id): at most 20 messages in any 60 s;
* the bot overall: at most 30 messages in any 1 s.
A request beyond a limit is answered 429 with `parameters.retry_after` (whole seconds, as
Telegram sends them); a chat's retry_after is remembered so that a request to it before
that time is counted as a violation (and so is any request while a bot-wide one is pending).

Besides the Bot API methods watchbot uses (getMe, sendMessage, editMessageText, getUpdates,
deleteWebhook, setMyCommands...), GET /stats returns the counters as JSON, GET /sent the
accepted messages (chat id, time, text), and POST /reset clears everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import time
from collections import defaultdict, deque
from typing import Any

from aiohttp import web

PRIVATE_INTERVAL = 1.0
GROUP_WINDOW, GROUP_MAX = 60.0, 20
GLOBAL_WINDOW, GLOBAL_MAX = 1.0, 30


class Emulator:
    def __init__(self, token: str) -> None:
        self.token = token
        self.reset()

    def reset(self) -> None:
        self.t0 = time.monotonic()
        self.chat_sent: dict[int, deque[float]] = defaultdict(deque)
        self.global_sent: deque[float] = deque()
        self.retry_until: dict[int, float] = {}
        self.global_retry_until = 0.0
        self.seen: set[tuple[int, str]] = set()
        self.sent: list[dict[str, Any]] = []
        self.stats: dict[str, Any] = {
            "requests": 0,
            "accepted": 0,
            "rejected_429": 0,
            "rejected_429_chat": 0,
            "rejected_429_global": 0,
            "duplicates": 0,
            "requests_during_chat_retry_after": 0,
            "requests_during_global_retry_after": 0,
            "edits": 0,
            "max_in_any_second": 0,
            "first_accepted_s": None,
            "last_accepted_s": None,
        }
        self.next_message_id = 1000

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _limit(self, chat_id: int, now: float) -> tuple[float, str] | None:
        """(retry_after seconds, which limit) if this message would break a limit."""
        g = self.global_sent
        while g and g[0] <= now - GLOBAL_WINDOW:
            g.popleft()
        if len(g) >= GLOBAL_MAX:
            return g[0] + GLOBAL_WINDOW - now, "global"
        sent = self.chat_sent[chat_id]
        if chat_id > 0:
            if sent and now - sent[-1] < PRIVATE_INTERVAL:
                return sent[-1] + PRIVATE_INTERVAL - now, "chat"
        else:
            while sent and sent[0] <= now - GROUP_WINDOW:
                sent.popleft()
            if len(sent) >= GROUP_MAX:
                return sent[0] + GROUP_WINDOW - now, "chat"
        return None

    def send(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = self._now()
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        s = self.stats
        s["requests"] += 1
        if now < self.retry_until.get(chat_id, 0.0):
            s["requests_during_chat_retry_after"] += 1
        if now < self.global_retry_until:
            s["requests_during_global_retry_after"] += 1
        limit = self._limit(chat_id, now)
        if limit is not None:
            wait, kind = limit
            retry_after = max(1, math.ceil(wait))
            s["rejected_429"] += 1
            s[f"rejected_429_{kind}"] += 1
            self.retry_until[chat_id] = max(self.retry_until.get(chat_id, 0.0), now + retry_after)
            if kind == "global":
                self.global_retry_until = max(self.global_retry_until, now + retry_after)
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        self.chat_sent[chat_id].append(now)
        if chat_id > 0 and len(self.chat_sent[chat_id]) > 1:
            self.chat_sent[chat_id].popleft()
        self.global_sent.append(now)
        s["max_in_any_second"] = max(s["max_in_any_second"], len(self.global_sent))
        key = (chat_id, hashlib.sha256(text.encode()).hexdigest())
        if key in self.seen:
            s["duplicates"] += 1
        self.seen.add(key)
        s["accepted"] += 1
        if s["first_accepted_s"] is None:
            s["first_accepted_s"] = now
        s["last_accepted_s"] = now
        self.next_message_id += 1
        self.sent.append(
            {"kind": "send", "chat_id": chat_id, "t": now, "wall": time.time(), "text": text}
        )
        chat_type = "private" if chat_id > 0 else "supergroup"
        return 200, {
            "ok": True,
            "result": {
                "message_id": self.next_message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": chat_type},
                "text": text,
            },
        }

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "sendMessage":
            return self.send(params)
        if method == "getMe":
            me = {"id": 1, "is_bot": True, "first_name": "emulator", "username": "emu_bot"}
            return 200, {"ok": True, "result": me}
        if method == "editMessageText":
            self.stats["edits"] += 1
            chat = {"id": int(params.get("chat_id", 0)), "type": "private"}
            self.sent.append(
                {
                    "kind": "edit",
                    "chat_id": chat["id"],
                    "t": self._now(),
                    "wall": time.time(),
                    "text": str(params.get("text", "")),
                }
            )
            msg = {"message_id": int(params.get("message_id", 0)), "date": 0, "chat": chat}
            return 200, {"ok": True, "result": msg}
        if method == "getUpdates":
            return 200, {"ok": True, "result": []}
        return 200, {"ok": True, "result": True}

    def summary(self) -> dict[str, Any]:
        return {**self.stats, "elapsed_s": self._now()}


def make_app(emu: Emulator) -> web.Application:
    async def api(request: web.Request) -> web.Response:
        if request.match_info["token"] != emu.token:
            return web.json_response({"ok": False, "error_code": 404}, status=404)
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        if method == "getUpdates":
            await asyncio.sleep(min(float(params.get("timeout") or 0), 1.0))
        status, body = emu.handle(method, params)
        return web.json_response(body, status=status)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(emu.summary())

    async def sent(_request: web.Request) -> web.Response:
        return web.json_response(emu.sent)

    async def reset(_request: web.Request) -> web.Response:
        emu.reset()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_get("/sent", sent)
    app.router.add_post("/reset", reset)
    app.router.add_route("*", "/bot{token}/{method}", api)
    return app


async def serve(token: str, port: int) -> None:
    runner = web.AppRunner(make_app(Emulator(token)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY {bound}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.token, args.port))


if __name__ == "__main__":
    main()
