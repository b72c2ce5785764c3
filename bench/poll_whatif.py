"""What-if for the storage fixes of the first round (since applied, in a fuller form, in
storage/feeds.py and storage/items.py; kept to reproduce the first round's figures): the poll pass
in-process, `baseline` or `patched`, where patched =
  * storage.feeds.claim_due_feeds claiming with one UPDATE ... WHERE id IN (...) per 500 ids and
    synchronize_session=False (the current per-feed ORM UPDATE re-evaluates every Feed already
    in the session: quadratic in the number of due feeds);
  * what passing every default_factory field (topics=, matches=) to Item(...) saves: pydantic
    otherwise calls inspect.signature() on each default factory for every row.

Run:  uv run python bench/poll_whatif.py 300 baseline
      uv run python bench/poll_whatif.py 300 patched
Prints one JSON line (seconds include reading the feeds file and compiling the rules, ~1.3 s).
"""
# ruff: noqa: E402

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
N = int(sys.argv[1])
PATCH = sys.argv[2] == "patched"
from feedfarm import feed_urls
from poll_bench import start_farm, write_feeds_file
from sqlalchemy import or_, update
from sqlmodel import col, select

import storage.feeds as sf
from storage.models import Feed

if PATCH:

    def claim_due_feeds(session, now, owner, lease, limit, everything=False):
        q = (
            select(Feed.id)
            .where(col(Feed.in_config), col(Feed.enabled), col(Feed.disabled_reason).is_(None))
            .where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
            .order_by(col(Feed.next_check_at))
            .limit(limit)
        )
        if not everything:
            q = q.where(col(Feed.next_check_at) <= now)
        ids = list(session.exec(q).all())
        for i in range(0, len(ids), 500):
            session.execute(
                update(Feed)
                .where(col(Feed.id).in_(ids[i : i + 500]))
                .where(or_(col(Feed.lease_until).is_(None), col(Feed.lease_until) < now))
                .values(lease_owner=owner, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
        session.commit()
        return list(session.exec(select(Feed).where(col(Feed.lease_owner) == owner)).all())

    sf.claim_due_feeds = claim_due_feeds
    import bot.poller

    bot.poller.claim_due_feeds = claim_due_feeds
    # = what passing topics=/matches= (all default_factory fields) to Item(...) saves:
    import functools

    import pydantic._internal._fields as pf

    pf.takes_validated_data_argument = functools.lru_cache(maxsize=None)(
        pf.takes_validated_data_argument
    )
farm, port = start_farm(N, 50)
tmp = Path(tempfile.mkdtemp())
write_feeds_file(tmp / "feeds.yaml", feed_urls(N, 50, port))
os.environ.update(
    WATCHBOT_DATABASE_URL=f"sqlite:///{tmp / 'w.db'}",
    WATCHBOT_FEEDS_FILE=str(tmp / "feeds.yaml"),
    WATCHBOT_LOG_LEVEL="WARNING",
)
from bot.config import load_settings
from bot.poll_once import poll_once

out = {}
try:
    for mode in ("cold", "warm"):
        t = time.perf_counter()
        s = asyncio.run(poll_once(load_settings(), True, False))
        out[mode] = {
            "s": round(time.perf_counter() - t, 2),
            "feeds_per_s": round(N / (time.perf_counter() - t), 1),
            **{k: v for k, v in s.as_dict().items() if k != "failures"},
        }
finally:
    farm.terminate()
print(json.dumps({"patched": PATCH, "feeds": N, **out}))
