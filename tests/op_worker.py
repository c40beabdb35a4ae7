"""Runs bus operations read as JSON lines from stdin, one answer line each ("ok" or the error
kind).  Used by tests that drive several writer processes."""

from __future__ import annotations

import json
import sys

from repobus.bus import open_bus
from repobus.errors import BusError


def main() -> int:
    bus = open_bus(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        op = json.loads(line)
        kind, agent, task = op["op"], op["agent"], op.get("task", "T-0")
        try:
            if kind == "claim":
                bus.claim(agent, task)
            elif kind == "renew":
                bus.renew(agent, task)
            elif kind == "pause":
                bus.pause(agent, task, notes="paused by test")
            elif kind == "release":
                bus.release(agent, task)
            elif kind == "log":
                bus.log(agent, op.get("event", "note"), op.get("summary", "s"), task=op.get("task"))
            elif kind == "send":
                bus.send(agent, task, "comment", op.get("summary", "m"), to=op.get("to"))
            print("ok", flush=True)
        except BusError as exc:
            print(exc.kind, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
