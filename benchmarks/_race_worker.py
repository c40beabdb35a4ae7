"""One racer of the 16-way claim race: `python _race_worker.py WORKTREE AGENT`.

Prints `ready` once repobus is imported and the bus is open; then for every task id read
from stdin calls `bus.claim(AGENT, task)` and prints `won|lost|error TASK SECONDS [detail]`.
Stops at EOF or on a `quit` line.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    worktree, agent = sys.argv[1], sys.argv[2]
    from repobus.bus import open_bus
    from repobus.errors import ConflictError

    bus = open_bus(worktree)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        task = line.strip()
        if not task:
            continue
        if task == "quit":
            break
        t0 = time.perf_counter()
        try:
            bus.claim(agent, task)
            verdict, detail = "won", ""
        except ConflictError:
            verdict, detail = "lost", ""
        except Exception as exc:  # reported, counted as a failed round by the parent
            verdict, detail = "error", f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        out.write(f"{verdict} {task} {time.perf_counter() - t0:.6f} {detail}\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
