"""A long-lived racer for the race and crash tests: one agent in one worktree.

Reads commands from stdin, one per line, and answers one line each on stdout:
  claim TASK        -> "won TASK <fence>" | "lost TASK <holder>"
  log N             -> "logged N"          (an unguarded event with summary N)
  work TASK N       -> "worked TASK N"     (a guarded status event on TASK)
  quit
It prints "ready" once the bus is open, so a test can release all racers together.
"""

from __future__ import annotations

import sys

from repobus.bus import open_bus
from repobus.errors import ConflictError


def main() -> int:
    worktree, agent = sys.argv[1], sys.argv[2]
    bus = open_bus(worktree)
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        if parts[0] == "claim":
            try:
                slot = bus.claim(agent, parts[1])
                print(f"won {parts[1]} {slot.record['fencing_token']}", flush=True)
            except ConflictError:
                holder = bus.store.get("claims", parts[1])
                print(f"lost {parts[1]} {holder.record['agent_id'] if holder else '?'}", flush=True)
        elif parts[0] == "log":
            bus.log(agent, "round", parts[1])
            print(f"logged {parts[1]}", flush=True)
        elif parts[0] == "work":
            bus.log(agent, "status", parts[2], task=parts[1])
            print(f"worked {parts[1]} {parts[2]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
