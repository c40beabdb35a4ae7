"""One writer of the dashboard's live-update benchmark: `python _web_writer.py REPO AGENT RATE
SECONDS`.

Prints `ready` once the bus is open, waits for `go` on stdin, then writes RATE times a second
(paced to a schedule, not back to back) for SECONDS: even writes log an event, odd ones claim
a new task `W-<AGENT>-<n>`.  Prints one JSON line: the wall-clock time (time.time()) at which
each write had returned, and the errors.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    repo, agent, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    from repobus.bus import open_bus

    bus = open_bus(repo)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 0
    done: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    n = 0
    while n < int(rate * seconds):
        wait = start + n / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            if n % 2:
                bus.claim(agent, f"W-{agent}-{n}")
            else:
                bus.log(agent, "status", f"{agent}-{n}")
            done.append(time.time())
        except Exception as exc:  # reported to the parent
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        n += 1
    print(json.dumps({"done": done, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
