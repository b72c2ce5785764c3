"""Polling throughput: `watchbot poll --once --all` over 1,000 local feeds, cold and warm,
against lemon24/reader on the same feeds in the same run.

Run:  uv run python bench/poll_bench.py [--feeds 1000] [--hosts 50] [--no-reader]
Prints the figures and writes bench/results/poll_bench.json.

* The feeds come from bench/feedfarm.py (a separate process): 20-100 items each, ETag and
  Last-Modified, 304 on either validator, gzip. They are spread over 50 loopback addresses
  (127.0.1.x) so per-host limits behave as with a real list of publishers.
* watchbot runs as a subprocess (fresh SQLite database in a temp folder, a generated feeds
  file with the project's `topics:` from feeds.yaml), with its default settings. "wall" is the
  whole command; "pass" is the pass as the command itself times it (`seconds` in
  `poll --json`: from claiming the due feeds to the last write). The fixed start-up cost
  (imports, feeds file, schema, sync) is measured by `watchbot poll --once` when nothing is
  due. Byte-code is cached in a private PYCACHEPREFIX, as in a deployed image.
* Peak RSS is the child's own (os.wait4), not this script's.
* reader (never a project dependency) lives in bench/.venv-reader, created on first use with
  `uv venv bench/.venv-reader && uv pip install --python bench/.venv-reader reader sgmllib3k`
  (reader 3.26's vendored feedparser imports sgmllib without declaring it).
  It gets as many worker threads as watchbot's poll concurrency (20).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
READER_VENV = BENCH / ".venv-reader"
sys.path.insert(0, str(BENCH))

from feedfarm import feed_urls  # noqa: E402


def topics_section() -> str:
    text = (ROOT / "feeds.yaml").read_text(encoding="utf-8")
    return text[text.index("\ntopics:") + 1 :]


def write_feeds_file(path: Path, urls: list[str]) -> None:
    lines = ["feeds:"]
    for i, url in enumerate(urls):
        lines.append(f'  - name: "bench {i}"\n    url: "{url}"')
    path.write_text("\n".join(lines) + "\n\n" + topics_section(), encoding="utf-8")


def run_child(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a command; its wall time, exit code, output and own peak RSS (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Read the pipes in threads, then reap with wait4 to get this child's rusage.
    import threading

    out: dict[str, str] = {}

    def drain(name: str, stream: Any) -> None:
        out[name] = stream.read()

    threads = [
        threading.Thread(target=drain, args=("stdout", proc.stdout)),
        threading.Thread(target=drain, args=("stderr", proc.stderr)),
    ]
    for t in threads:
        t.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "rc": proc.returncode,
        "stdout": out.get("stdout", ""),
        "stderr": out.get("stderr", ""),
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def start_farm(n: int, hosts: int) -> tuple[subprocess.Popen[str], int]:
    farm = subprocess.Popen(
        [sys.executable, str(BENCH / "feedfarm.py"), "--feeds", str(n), "--hosts", str(hosts)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert farm.stdout is not None
    line = farm.stdout.readline()
    if not line.startswith("READY"):
        farm.kill()
        raise SystemExit(f"feed server did not start: {line!r}")
    return farm, int(line.split()[1])


def ensure_reader() -> Path | None:
    py = READER_VENV / "bin" / "python"
    if py.exists():
        return py
    uv = shutil.which("uv")
    if not uv:
        return None
    subprocess.run([uv, "venv", "-q", str(READER_VENV)], check=True)
    # reader's vendored feedparser imports `sgmllib`, which it does not declare.
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(py), "reader", "sgmllib3k"], check=True
    )
    return py


def watchbot_pass(watchbot: str, env: dict[str, str], cwd: Path, label: str) -> dict[str, Any]:
    res = run_child([watchbot, "poll", "--once", "--all", "--json"], env, cwd)
    if res["rc"] != 0:
        raise SystemExit(f"watchbot {label} pass failed ({res['rc']}):\n{res['stderr'][-3000:]}")
    res["summary"] = json.loads(res["stdout"])
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--no-reader", action="store_true")
    ap.add_argument("--reader-workers", type=int, default=20)
    args = ap.parse_args()

    watchbot = str(Path(sys.executable).parent / "watchbot")
    farm, port = start_farm(args.feeds, args.hosts)
    tmp = Path(tempfile.mkdtemp(prefix="watchbot-bench-"))
    results: dict[str, Any] = {}
    try:
        urls = feed_urls(args.feeds, args.hosts, port)
        (tmp / "urls.txt").write_text("\n".join(urls), encoding="utf-8")
        write_feeds_file(tmp / "feeds.yaml", urls)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHBOT_")}
        # Byte-code cached as in a deployed image (this box sets PYTHONDONTWRITEBYTECODE and
        # the venv ships no .pyc, so every command would recompile SQLAlchemy: ~1.5 s).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        env.update(
            WATCHBOT_DATABASE_URL=f"sqlite:///{tmp / 'watchbot.db'}",
            WATCHBOT_FEEDS_FILE=str(tmp / "feeds.yaml"),
            WATCHBOT_LOG_LEVEL="WARNING",
        )
        run_child([watchbot, "feeds", "check"], env, tmp)  # fills the byte-code cache
        cold = watchbot_pass(watchbot, env, tmp, "cold")
        warm = watchbot_pass(watchbot, env, tmp, "warm")
        idle = run_child([watchbot, "poll", "--once", "--json"], env, tmp)  # nothing due
        startup = idle["wall_s"]
        for name, res in (("cold", cold), ("warm", warm)):
            s = res["summary"]
            pass_s = max(s["seconds"], 1e-9)  # measured inside the command: claim to last write
            results[f"watchbot_{name}"] = {
                "wall_s": round(res["wall_s"], 2),
                "pass_s": round(pass_s, 2),
                "feeds_per_s_wall": round(args.feeds / res["wall_s"], 1),
                "feeds_per_s_pass": round(args.feeds / pass_s, 1),
                "items": s["new_items"],
                "items_per_s_pass": round(s["new_items"] / pass_s, 1),
                "fetched": s["fetched"],
                "not_modified": s["not_modified"],
                "unchanged": s["unchanged"],
                "failed": s["failed"],
                "peak_rss_mib": round(res["peak_rss_mib"], 1),
                "cpu_s": round(res["cpu_s"], 2),
            }
        results["watchbot_startup_s"] = round(startup, 2)
        results["watchbot_startup_note"] = "`watchbot poll --once` with nothing due"

        py = None if args.no_reader else ensure_reader()
        if py is not None:
            rdb = tmp / "reader.sqlite"
            for mode in ("cold", "warm"):
                cmd = [str(py), str(BENCH / "_reader_run.py"), str(rdb), str(tmp / "urls.txt")]
                res = run_child([*cmd, mode, str(args.reader_workers)], dict(os.environ), tmp)
                if res["rc"] != 0:
                    raise SystemExit(f"reader {mode} failed:\n{res['stderr'][-3000:]}")
                r = json.loads(res["stdout"].strip().splitlines()[-1])
                upd = r["update_s"] + r["add_feeds_s"]
                results[f"reader_{mode}"] = {
                    "wall_s": round(res["wall_s"], 2),
                    "pass_s": round(upd, 2),
                    "feeds_per_s_wall": round(args.feeds / res["wall_s"], 1),
                    "feeds_per_s_pass": round(args.feeds / upd, 1),
                    "entries": r["entries"],
                    "errors": r["errors"],
                    "peak_rss_mib": round(res["peak_rss_mib"], 1),
                    "cpu_s": round(res["cpu_s"], 2),
                }
            for mode in ("cold", "warm"):
                w, r = results[f"watchbot_{mode}"], results[f"reader_{mode}"]
                results[f"ratio_{mode}_pass"] = round(
                    w["feeds_per_s_pass"] / r["feeds_per_s_pass"], 2
                )
                results[f"ratio_{mode}_wall"] = round(
                    w["feeds_per_s_wall"] / r["feeds_per_s_wall"], 2
                )
    finally:
        farm.terminate()
        farm.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    results["targets"] = {
        "warm_feeds_per_s_ge_500_pass": results["watchbot_warm"]["feeds_per_s_pass"] >= 500,
        "warm_feeds_per_s_ge_500_wall": results["watchbot_warm"]["feeds_per_s_wall"] >= 500,
    }
    if "ratio_cold_pass" in results:
        results["targets"]["cold_ge_3x_reader_pass"] = results["ratio_cold_pass"] >= 3
        results["targets"]["cold_ge_3x_reader_wall"] = results["ratio_cold_wall"] >= 3
    results["machine"] = {
        "nproc": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "feeds": args.feeds,
        "hosts": args.hosts,
    }
    print(json.dumps(results, indent=2))
    out = BENCH / "results" / "poll_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
