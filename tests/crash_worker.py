"""Writes without pause until killed, printing one acknowledgement per write that returned:
  E <n>            event n appended
  C <task> <op>    claim operation done
Used by test_crash.py, which kills it (and its git children) with SIGKILL at random moments."""

from __future__ import annotations

import sys

from repobus.bus import open_bus


def main() -> int:
    worktree, agent, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bus = open_bus(worktree)
    print("ready", flush=True)
    for n in range(start, start + 100000):
        bus.log(agent, "tick", f"{agent}:{n}")
        print(f"E {n}", flush=True)
        task = f"K-{n % 7}"
        cur = bus.store.get("claims", task)
        if cur is None or cur.record.get("status") != "active":
            bus.claim(agent, task)
            print(f"C {task} claim", flush=True)
        else:
            bus.log(agent, "status", f"{agent}:{n}", task=task)
            print(f"E {n}", flush=True)
            bus.release(agent, task)
            print(f"C {task} release", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
