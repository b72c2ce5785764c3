"""Run lemon24/reader over the bench feeds (executed with bench/.venv-reader's Python).

    bench/.venv-reader/bin/python bench/_reader_run.py DB URLS_FILE cold|warm WORKERS
Prints one JSON line: seconds spent in update_feeds (and in add_feed), entries, errors.
"""

import json
import sys
import time

from reader import make_reader


def main() -> None:
    db, urls_file, mode, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    t_start = time.perf_counter()
    reader = make_reader(db)
    with open(urls_file, encoding="utf-8") as fh:
        urls = [u.strip() for u in fh if u.strip()]
    t0 = time.perf_counter()
    if mode == "cold":
        for url in urls:
            reader.add_feed(url, exist_ok=True)
    t1 = time.perf_counter()
    reader.update_feeds(workers=workers, scheduled=(mode == "cold"))
    t2 = time.perf_counter()
    feeds = list(reader.get_feeds())
    out = {
        "mode": mode,
        "feeds": len(feeds),
        "add_feeds_s": t1 - t0,
        "update_s": t2 - t1,
        "startup_s": t0 - t_start,
        "entries": reader.get_entry_counts().total,
        "errors": sum(1 for f in feeds if f.last_exception),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
