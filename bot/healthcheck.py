"""The container's HEALTHCHECK: stdlib only, so it starts fast and needs nothing else."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("WATCHBOT_HTTP_PORT", "8080")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return 0 if reply.status == 200 else 1
    except urllib.error.HTTPError as err:
        print(err.read().decode("utf-8", "replace")[:500], file=sys.stderr)
        return 1
    except OSError as err:
        print(f"watchbot is not answering on port {port}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
