"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 that PTB talks to through `base_url`.

It speaks enough of the Bot API for watchbot (getMe, getUpdates, sendMessage, editMessageText,
answerCallbackQuery, setMyCommands, deleteWebhook/setWebhook, getChat, getChatMember,
getChatAdministrators), checks HTML like Telegram does ("can't parse entities"), and lets tests
push updates, script failures (429, 403, 400, 5xx) and hold a request in flight.

Also home to the `fake_bot_api` fixture and small database helpers for the Telegram tests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.db import create_schema, make_engine
from storage.models import Feed, Item
from storage.timeutil import utcnow

TOKEN = "123456789:AAtest-Token_ShouldNeverBeLogged0123"
BOT_ID = 123456789
ADMIN_ID = 9001
USER_ID = 4242

# --- Telegram's HTML rules ---------------------------------------------------------------

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'|[^\s>\"'<]+))?)*)\s*>"
)
_ATTR = re.compile(r"([A-Za-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class ParseError(ValueError):
    pass


def _offset(text: str, i: int) -> int:
    return len(text[:i].encode("utf-8"))


def _entities(text: str, base: int, whole: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise ParseError(
                    f"Character '&' at byte offset {_offset(whole, base + i)} must be escaped"
                )
            name = m.group(1)
            if name in _NAMED:
                out.append(_NAMED[name])
            elif name.startswith("#x"):
                out.append(chr(int(name[2:], 16)))
            else:
                out.append(chr(int(name[1:])))
            i = m.end()
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_telegram_html(text: str) -> str:
    """The plain text Telegram would show, or ParseError with Telegram's kind of message."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if not m:
                raise ParseError(f"Unexpected end of name token at byte offset {_offset(text, i)}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if name not in ALLOWED_TAGS:
                kind = "end" if closing else "start"
                raise ParseError(
                    f'Unsupported {kind} tag "{name}" at byte offset {_offset(text, i)}'
                )
            if closing:
                if not stack or stack[-1] != name:
                    raise ParseError(f"Unmatched end tag at byte offset {_offset(text, i)}")
                stack.pop()
            else:
                attrs = {a.group(1).lower(): a.group(2) or a.group(3) or a.group(4) or ""
                         for a in _ATTR.finditer(m.group(3))}  # fmt: skip
                for value in attrs.values():
                    _entities(value, i, text)
                if name == "a" and not attrs.get("href"):
                    raise ParseError(f"Can't find href in a tag at byte offset {_offset(text, i)}")
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise ParseError(f"Character '&' at byte offset {_offset(text, i)} must be escaped")
            out.append(_entities(m.group(0), i, text))
            i = m.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- The server ----------------------------------------------------------------------------

_JSON_FIELDS = {
    "reply_markup", "link_preview_options", "allowed_updates", "commands", "scope",
    "entities", "reply_parameters",
}  # fmt: skip
_INT_FIELDS = {"offset", "limit", "timeout", "message_id", "user_id", "cache_time"}


@dataclass
class Fault:
    method: str
    chat_id: int | None
    status: int
    description: str
    retry_after: int | None = None
    times: int = 1


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200
    description: str = ""


@dataclass
class FakeBotAPI:
    """State of the fake Bot API; every public method is thread-safe."""

    token: str = TOKEN
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted sendMessage calls
    edits: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    chats: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    members: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 100
        self._faults: list[Fault] = []
        self._holds: dict[str, threading.Event] = {}
        self._server: ThreadingHTTPServer | None = None

    # lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> None:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        with self._cond:
            for event in self._holds.values():
                event.set()
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # what tests do
    def push_update(self, payload: dict[str, Any]) -> int:
        with self._cond:
            update_id = self._next_update
            self._next_update += 1
            self._updates.append({"update_id": update_id, **payload})
            self._cond.notify_all()
            return update_id

    def user(self, user_id: int, language_code: str = "en") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"U{user_id}",
                "language_code": language_code}  # fmt: skip

    def chat(self, chat_id: int, chat_type: str = "private", title: str = "") -> dict[str, Any]:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": f"U{chat_id}"}
        return {"id": chat_id, "type": chat_type, "title": title or f"Chat {chat_id}"}

    def push_command(
        self,
        text: str,
        user_id: int = USER_ID,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str = "en",
    ) -> int:
        """A user types `text` (e.g. "/start") in a chat."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            self._next_message += 1
            message_id = self._next_message
        command = text.split()[0]
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.user(user_id, language_code),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        }
        return self.push_update({"message": message})

    def push_callback(self, data: str, message: dict[str, Any], user_id: int = USER_ID) -> str:
        """A user taps an inline button with `data` under the bot's `message`."""
        with self._cond:
            self._next_message += 1
            query_id = f"cq{self._next_message}"
        chat = message["chat"]
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": message["message_id"],
                        "date": int(time.time()),
                        "chat": chat,
                        "from": self.me(),
                        "text": message.get("plain", ""),
                    },
                }
            }
        )
        return query_id

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        chat_id: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) fail like this."""
        with self._cond:
            self._faults.append(Fault(method, chat_id, status, description, retry_after, times))

    def hold(self, text_part: str) -> threading.Event:
        """Accept (deliver) a sendMessage containing `text_part`, then hold the response
        until the returned event is set: the message is in flight for the sender."""
        event = threading.Event()
        with self._cond:
            self._holds[text_part] = event
        return event

    def set_member(self, chat_id: int, user_id: int, status: str, **rights: bool) -> None:
        with self._cond:
            self.members[(chat_id, user_id)] = {"status": status, **rights}

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> Any:
        """Poll until `predicate()` is truthy (bounded); return its value."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.01)

    async def await_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> Any:
        """wait_for for async tests: yields to the event loop between looks."""
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.01)

    def texts_to(self, chat_id: int) -> list[str]:
        with self._cond:
            return [m["text"] for m in self.sent if m["chat_id"] == chat_id]

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.sent if m["chat_id"] == chat_id]

    def calls_of(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def post_to_webhook(self, payload: dict[str, Any], secret: str | None) -> int:
        """Telegram's side of webhook mode: POST an update to the registered URL."""
        assert self.webhook is not None, "no webhook registered"
        with self._cond:
            update_id = self._next_update
            self._next_update += 1
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        response = httpx.post(
            self.webhook["url"], json={"update_id": update_id, **payload}, headers=headers
        )
        return response.status_code

    def me(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "watchbot",
                "username": "watchbot_test_bot", "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}  # fmt: skip

    # the API
    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._cond:
            for fault in self._faults:
                if fault.method == method and fault.chat_id in (None, params.get("chat_id")):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    body: dict[str, Any] = {"ok": False, "error_code": fault.status,
                                            "description": fault.description}  # fmt: skip
                    if fault.retry_after is not None:
                        body["parameters"] = {"retry_after": fault.retry_after}
                    self.calls.append(Call(method, params, fault.status, fault.description))
                    return fault.status, body
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        else:
            try:
                status, body = 200, {"ok": True, "result": handler(params)}
            except ParseError as err:
                description = f"Bad Request: can't parse entities: {err}"
                status, body = 400, {"ok": False, "error_code": 400, "description": description}
            except ApiError as err:
                status, body = err.status, {"ok": False, "error_code": err.status,
                                            "description": err.description}  # fmt: skip
        with self._cond:
            self.calls.append(Call(method, params, status, body.get("description", "")))
        return status, body

    def api_getMe(self, params: dict[str, Any]) -> Any:
        return self.me()

    def api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self.webhook = None
        return True

    def api_setWebhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self.webhook = dict(params)
        return True

    def api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 0.5)
        deadline = time.monotonic() + wait
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self._updates)

    def _check_text(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        plain = parse_telegram_html(text) if params.get("parse_mode") == "HTML" else text
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return plain

    def api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = params["chat_id"]
        plain = self._check_text(params)
        with self._cond:
            self._next_message += 1
            record = {**params, "chat_id": chat_id, "message_id": self._next_message,
                      "plain": plain, "chat": self._chat_for(chat_id)}  # fmt: skip
            self.sent.append(record)
            hold = next((e for part, e in self._holds.items() if part in record["text"]), None)
        if hold is not None:
            hold.wait(10)
        return self._message(record)

    def api_editMessageText(self, params: dict[str, Any]) -> Any:
        plain = self._check_text(params)
        with self._cond:
            record = {**params, "plain": plain, "chat": self._chat_for(params["chat_id"])}
            self.edits.append(record)
        return self._message(record)

    def api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self.answers.append(params)
        return True

    def api_setMyCommands(self, params: dict[str, Any]) -> Any:
        scope = params.get("scope") or {"type": "default"}
        key = f"{scope.get('type')}:{scope.get('chat_id', '')}:{params.get('language_code', '')}"
        with self._cond:
            self.commands[key] = params["commands"]
        return True

    def api_getChat(self, params: dict[str, Any]) -> Any:
        chat = self.chats.get(params["chat_id"])
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                                "premium_subscription", "gifts_from_channels"), False)  # fmt: skip
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}  # fmt: skip

    def api_getChatMember(self, params: dict[str, Any]) -> Any:
        chat_id, user_id = params["chat_id"], int(params["user_id"])
        member = self.members.get((chat_id, user_id))
        if member is None:
            if chat_id == user_id:
                member = {"status": "member"}
            elif chat_id not in self.chats and isinstance(chat_id, int) and chat_id > 0:
                raise ApiError(400, "Bad Request: chat not found")
            else:
                member = {"status": "left"}
        return _member(member, user_id)

    def api_getChatAdministrators(self, params: dict[str, Any]) -> Any:
        chat_id = params["chat_id"]
        return [
            _member(m, uid)
            for (cid, uid), m in self.members.items()
            if cid == chat_id and m["status"] in ("administrator", "creator")
        ]

    def _chat_for(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.chats:
            return self.chats[chat_id]
        return self.chat(chat_id, "private" if chat_id > 0 else "supergroup")

    def _message(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"message_id": record.get("message_id", 1), "date": int(time.time()),
                "chat": record["chat"], "from": self.me(), "text": record["plain"]}  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _member(member: dict[str, Any], user_id: int) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": user_id == BOT_ID, "first_name": f"U{user_id}"}
    status = member["status"]
    if status == "administrator":
        rights = dict.fromkeys(
            ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
             "can_manage_video_chats", "can_restrict_members", "can_promote_members",
             "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
             "can_delete_stories"),
            False,
        )  # fmt: skip
        return {"user": user, **rights, **member}
    if status == "creator":
        return {"user": user, "is_anonymous": False, **member}
    if status == "kicked":
        return {"user": user, "until_date": 0, **member}
    return {"user": user, **member}


def _parse_value(key: str, raw: str) -> Any:
    if key in _JSON_FIELDS:
        return json.loads(raw)
    if key == "chat_id" or key in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    fake: FakeBotAPI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _respond(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client died (the crash test): nothing to answer
            pass

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length))

    def _dispatch(self, body: bytes) -> None:
        prefix = f"/bot{self.fake.token}/"
        if not self.path.startswith(prefix):
            self._respond(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        method = self.path[len(prefix) :].split("?")[0]
        if self.headers.get("Content-Type", "").startswith("application/json") and body:
            params = json.loads(body)
        else:
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
            params = {k: _parse_value(k, v) for k, v in pairs}
        status, result = self.fake.handle(method, params)
        self._respond(status, result)


@pytest.fixture
def fake_bot_api() -> Iterator[FakeBotAPI]:
    """A fresh fake Bot API server on 127.0.0.1 for one test."""
    api = FakeBotAPI()
    api.start()
    try:
        yield api
    finally:
        api.stop()


# --- Database helpers for the Telegram tests -----------------------------------------------


def make_db(database_url: str) -> Engine:
    """An empty schema at the `database_url` fixture's URL (SQLite, and PostgreSQL if set)."""
    engine = make_engine(database_url)
    create_schema(engine)
    return engine


def add_item(
    engine: Engine,
    title: str = "ICJ orders provisional measures",
    *,
    tier: str = "alert",
    topics: list[str] | None = None,
    score: float = 5.0,
    link: str | None = "https://news.example.org/icj",
    summary: str = "",
    feed: str = "Example News",
    first_seen_at: datetime | None = None,
    published_at: datetime | None = None,
    matches: list[dict[str, Any]] | None = None,
    backfill: bool = False,
) -> Item:
    """Store one classified item (and its feed on first use)."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.exec(select(Feed).where(Feed.name == feed)).first()
        if row is None:
            row = Feed(url=f"https://{feed.replace(' ', '').lower()}.example/rss", name=feed)
            session.add(row)
            session.flush()
        assert row.id is not None
        n = len(session.exec(select(Item.id)).all())
        item = Item(
            feed_id=row.id,
            identity=f"id-{n}-{abs(hash(title)) % 10**8}",
            content_hash=f"h{n}",
            title=title,
            summary=summary,
            link=link,
            tier=tier,
            topics=["icj_case"] if topics is None else topics,
            score=score,
            first_seen_at=first_seen_at or utcnow(),
            published_at=published_at,
            matches=matches or [],
            backfill=backfill,
        )
        session.add(item)
        session.commit()
        return item
