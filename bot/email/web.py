"""The e-mail links on watchbot's HTTP server: confirm an address, and unsubscribe.

A GET only shows a page with a button: mail scanners and link previews open every link in an
e-mail, and must neither confirm nor unsubscribe anyone. A POST acts; for unsubscribe that is
also RFC 8058's one-click request (`List-Unsubscribe=One-Click` in the body).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import Settings
from bot.email import subscriptions
from bot.email.links import CONFIRM_PATH, UNSUBSCRIBE, UNSUBSCRIBE_PATH
from bot.email.render import render
from bot.email.tokens import check_token, signing_key
from storage.db import session_scope
from storage.email import ACTIVE, BOUNCED, PENDING, UNSUBSCRIBED

T = TypeVar("T")

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def page(title: str, text: str, *, button: str = "", status: int = 200) -> web.Response:
    """A small HTML page; with `button`, a form that POSTs back to the same URL."""
    body = render("page.html", title=title, text=text, button=button)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )


NOT_FOUND = ("Link not valid", "This link is not valid, or no longer is.")


def add_email_routes(app: web.Application, engine: Engine, settings: Settings) -> None:
    """Serve /email/confirm/{token} and /email/unsubscribe/{token} on `app`."""

    async def db(fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with session_scope(engine) as session:
                return fn(session)

        return await asyncio.to_thread(work)

    async def confirm_page(request: web.Request) -> web.Response:
        token = request.match_info["token"]

        def look(s: Session) -> str | None:
            sub = subscriptions.by_confirm_token(s, token)
            return None if sub is None else sub.status

        status = await db(look)
        if status is None:
            return page(*NOT_FOUND, status=404)
        if status == ACTIVE:
            return page("Subscribed", "This address is confirmed: the daily digest comes to it.")
        if status != PENDING:
            return page(*NOT_FOUND, status=404)
        return page(
            "Confirm your subscription",
            "Press the button to receive watchbot's daily news digest at this address.",
            button="Confirm",
        )

    async def confirm(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        status = await db(
            lambda s: sub.status if (sub := subscriptions.confirm_token(s, token)) else None
        )
        if status != ACTIVE:
            return page(*NOT_FOUND, status=404)
        return page("Subscribed", "Thank you: the daily digest will come to this address.")

    async def unsubscribe_page(request: web.Request) -> web.Response:
        token = request.match_info["token"]

        def look(s: Session) -> str | None:
            sub = check_token(s, signing_key(s, settings), UNSUBSCRIBE, token)
            return None if sub is None else sub.status

        status = await db(look)
        if status is None:
            return page(*NOT_FOUND, status=404)
        if status in (UNSUBSCRIBED, BOUNCED):
            return page("Unsubscribed", "This address gets no more e-mails from watchbot.")
        return page(
            "Unsubscribe",
            "Press the button to stop watchbot's digest e-mails to this address.",
            button="Unsubscribe",
        )

    async def unsubscribe(request: web.Request) -> web.Response:
        token = request.match_info["token"]

        def act(s: Session) -> bool:
            sub = check_token(s, signing_key(s, settings), UNSUBSCRIBE, token)
            if sub is None:
                return False
            if sub.status != UNSUBSCRIBED:
                subscriptions.unsubscribe(s, sub)
            return True

        if not await db(act):
            return page(*NOT_FOUND, status=404)
        return page("Unsubscribed", "Done: this address gets no more e-mails from watchbot.")

    confirm_route = CONFIRM_PATH.replace("{token}", "{token:[A-Za-z0-9_.-]+}")
    unsubscribe_route = UNSUBSCRIBE_PATH.replace("{token}", "{token:[A-Za-z0-9_.-]+}")
    app.router.add_get(confirm_route, confirm_page)
    app.router.add_post(confirm_route, confirm)
    app.router.add_get(unsubscribe_route, unsubscribe_page)
    app.router.add_post(unsubscribe_route, unsubscribe)
