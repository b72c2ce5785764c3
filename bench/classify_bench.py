"""Classification throughput on one core: items/second over the dev and seed sets.

Run: uv run python bench/classify_bench.py [--feeds-file feeds.yaml] [--rounds 20]
Prints the figure and writes bench/results/classify.json. Kept out of the tests
on purpose: timing belongs here, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import yaml

from bot.classify import Classifier

ROOT = Path(__file__).resolve().parent.parent
DATA = [
    ROOT.parent / "shared" / "data" / "relevance-dev.jsonl",
    ROOT.parent / "shared" / "data" / "seeds.jsonl",
]


def load_items(paths: list[Path]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in paths:
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                items.extend(json.loads(line) for line in handle if line.strip())
    if not items:
        raise SystemExit(f"no input items found in {', '.join(map(str, paths))}")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds-file", type=Path, default=ROOT / "feeds.yaml")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("data", nargs="*", type=Path, default=DATA)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    topics = yaml.safe_load(args.feeds_file.read_text(encoding="utf-8"))["topics"]
    started = time.perf_counter()
    clf = Classifier.from_topics(topics)
    compile_ms = (time.perf_counter() - started) * 1000
    items = load_items(args.data)
    rows = [(i.get("title") or "", i.get("text") or "", i.get("lang")) for i in items]
    for title, text, lang in rows[:50]:  # warm-up
        clf.classify(title, text, lang)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.rounds):
        for title, text, lang in rows:
            clf.classify(title, text, lang)
    wall = time.perf_counter() - wall0
    elapsed = time.process_time() - cpu0  # CPU time: fair on a shared machine
    n = len(rows) * args.rounds
    chars = sum(len(t) + len(x) for t, x, _ in rows) / len(rows)
    result = {
        "items_per_second": round(n / elapsed),
        "items_per_wall_second": round(n / wall),
        "items": n,
        "cpu_seconds": round(elapsed, 3),
        "mean_chars_per_item": round(chars),
        "compile_ms": round(compile_ms, 1),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }
    out = ROOT / "bench" / "results" / "classify.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{result['items_per_second']} items/s on one core (CPU time; "
        f"{result['items_per_wall_second']}/s wall clock), {n} items, "
        f"mean {result['mean_chars_per_item']} chars, rules compiled in {compile_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
