"""watchbot's own HTTP server: /healthz for orchestrators, /metrics for Prometheus, and the
e-mail links (confirm, one-click unsubscribe) that must work without Telegram."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import Settings
from bot.email.web import add_email_routes
from bot.metrics import registry_for
from storage.models import Feed
from storage.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

# No successful fetch of any feed for this long means alerts have stopped: unhealthy.
STALE_POLL = timedelta(hours=2)
# A tick that has run this long is stuck, not busy.
STUCK_TICK = timedelta(minutes=15)
DB_TIMEOUT_SECONDS = 5.0


@dataclass
class Heartbeat:
    """What the scheduler's poll job reports, so /healthz can tell "ticking" from "wedged"."""

    tick_seconds: float
    started: float = field(default_factory=time.monotonic)
    tick_started: float | None = None
    tick_finished: float | None = None

    def begin(self) -> None:
        self.tick_started = time.monotonic()

    def end(self) -> None:
        self.tick_finished = time.monotonic()
        self.tick_started = None

    def problem(self, now: float) -> str | None:
        grace = 3 * self.tick_seconds + 60
        if self.tick_started is not None:
            if now - self.tick_started > STUCK_TICK.total_seconds():
                return f"a poll tick has been running for {now - self.tick_started:.0f}s"
            return None
        last = self.tick_finished if self.tick_finished is not None else self.started
        if now - last > grace:
            return f"the scheduler has not ticked for {now - last:.0f}s"
        return None


def _db_checks(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        last_success = session.exec(select(func.max(Feed.last_success_at))).one()
        enabled = session.exec(
            select(func.count()).select_from(Feed).where(col(Feed.enabled), col(Feed.in_config))
        ).one()
    return {"last_success": as_utc(last_success) if last_success else None, "enabled": enabled}


async def health_report(engine: Engine, heartbeat: Heartbeat) -> tuple[bool, dict[str, Any]]:
    problems: list[str] = []
    report: dict[str, Any] = {"database": "ok"}
    try:
        facts = await asyncio.wait_for(asyncio.to_thread(_db_checks, engine), DB_TIMEOUT_SECONDS)
    except Exception as err:
        report["database"] = "unreachable"
        problems.append(f"the database is unreachable ({type(err).__name__})")
        facts = None
    now = time.monotonic()
    tick_problem = heartbeat.problem(now)
    report["scheduler"] = "ok" if tick_problem is None else "stalled"
    if tick_problem:
        problems.append(tick_problem)
    if facts is not None:
        last = facts["last_success"]
        age = (utcnow() - last).total_seconds() if last else None
        report["last_successful_poll_age_seconds"] = None if age is None else round(age)
        stale = STALE_POLL.total_seconds()
        if facts["enabled"] and now - heartbeat.started > stale and (age is None or age > stale):
            problems.append(
                f"no feed has been fetched successfully for over {stale / 3600:.0f} hours"
            )
    report["status"] = "ok" if not problems else "unhealthy"
    report["problems"] = problems
    return not problems, report


def build_app(settings: Settings, engine: Engine, heartbeat: Heartbeat) -> web.Application:
    app = web.Application()
    registry = registry_for(engine)

    async def healthz(_request: web.Request) -> web.Response:
        ok, report = await health_report(engine, heartbeat)
        return web.json_response(report, status=200 if ok else 503)

    async def metrics(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_email_routes(app, engine, settings)
    return app


async def start_http(
    settings: Settings, engine: Engine, heartbeat: Heartbeat
) -> web.AppRunner | None:
    """Serve on WATCHBOT_HTTP_PORT (0 turns the server off). A taken port is logged, not
    fatal: alerts matter more than the health endpoint."""
    if settings.http_port == 0:
        return None
    runner = web.AppRunner(build_app(settings, engine, heartbeat), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.http_port)
    try:
        await site.start()
    except OSError as err:
        log.error(
            "http: cannot listen on port %d (%s); set WATCHBOT_HTTP_PORT to a free port",
            settings.http_port,
            err.strerror,
        )
        await runner.cleanup()
        return None
    log.info("http: /healthz and /metrics on port %d", settings.http_port)
    return runner
