"""A realistic bus for the dashboard's tests: six agents and a manager, 40 tasks in every
state (active, in grace, expired, stale, paused with notes, done, released, taken over) spread
over the last day, about 120 events and a few messages - written through the Python API with
a clock set back in time, so leases and silences are real without waiting.

`build(repo)` returns which task is in which state.  The repository's lease grace is one hour
and its stale window four hours, so the states hold for the whole of a test run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from repobus.bus import Bus, open_bus

AGENTS = ("codex-1", "claude-2", "aider-3", "codex-4", "gemini-5", "claude-6")
H = 3600


class Clock:
    """A settable clock for the bus: `at(-5 * H)` is five hours before the real start."""

    def __init__(self, now: int) -> None:
        self.base = now
        self.t = now

    def __call__(self) -> int:
        return self.t

    def at(self, offset: int) -> Clock:
        self.t = self.base + offset
        return self


def _bus(repo: Path) -> tuple[Bus, Clock]:
    for key, value in (("repobus.leaseGrace", "3600"), ("repobus.staleAfter", "4h")):
        subprocess.run(["git", "config", key, value], cwd=repo, check=True)
    base = open_bus(repo)
    clock = Clock(base.clock())
    return Bus(base.repo, base.cfg, base.store, clock), clock


def _work(bus: Bus, clock: Clock, agent: str, task: str, start: int, steps: int) -> None:
    """`agent` claims `task` at `start` (seconds from now) and logs `steps` events after it."""
    clock.at(start)
    bus.claim(agent, task, ttl=12 * H, branch=f"agent/{agent}/{task.lower()}", plan=task)
    for i in range(steps):
        clock.at(start + (i + 1) * 600)
        bus.log(agent, "progress" if i % 2 else "status", f"{task} step {i + 1}", task=task)


def build(repo: Path) -> dict[str, Any]:
    """Write the bus; return the tasks of each state and the agents."""
    bus, clock = _bus(repo)
    got: dict[str, list[str]] = {k: [] for k in ("active", "in_grace", "expired", "stale")}
    got |= {"paused": [], "done": [], "released": [], "takeover": []}
    n = 0

    def task() -> str:
        nonlocal n
        n += 1
        return f"QUEUE-{n:03d}"

    for i in range(16):  # finished over the last day: done or released
        t, agent = task(), AGENTS[i % 4]
        _work(bus, clock, agent, t, -22 * H + i * H, 2)
        clock.at(-22 * H + i * H + 1800)
        status = "done" if i % 3 else "released"
        bus.release(agent, t, status=status, notes=f"{t} finished: {status}")
        got[status].append(t)
    for i in range(10):  # active, busy agents; renewed recently
        t, agent = task(), AGENTS[i % 4]
        _work(bus, clock, agent, t, -3 * H + i * 600, 3)
        got["active"].append(t)
    for i in range(3):  # in grace: the lease ended 10 minutes ago, the grace runs an hour
        t = task()
        clock.at(-2 * H)
        bus.claim(AGENTS[i], t, ttl=2 * H - 600 - i * 60)
        got["in_grace"].append(t)
    for i in range(4):  # expired: lease ended over an hour (the grace) ago
        t, agent = task(), AGENTS[i % 4]
        clock.at(-5 * H)
        bus.claim(agent, t, ttl=2 * H)
        got["expired"].append(t)
    for i in range(3):  # stale: gemini-5 claimed with a long lease and went silent
        t = task()
        clock.at(-9 * H + i * 600)
        bus.claim("gemini-5", t, ttl=48 * H, notes="long refactor, will report back")
        got["stale"].append(t)
    for i in range(3):  # paused with notes, by their holders
        t, agent = task(), AGENTS[i]
        _work(bus, clock, agent, t, -4 * H, 1)
        clock.at(-3 * H + i * 300)
        bus.pause(agent, t, notes=f"blocked on review of {t}; tests half done, see PR")
        got["paused"].append(t)
    t = task()  # a takeover: claude-6 takes an expired claim of aider-3
    clock.at(-8 * H)
    bus.claim("aider-3", t, ttl=H)
    clock.at(-2 * H)
    bus.claim("claude-6", t, ttl=12 * H)
    bus.log("claude-6", "status", f"took over {t} from aider-3", task=t)
    got["takeover"].append(t)
    got["active"].append(t)
    clock.at(-30)
    bus.assign("mgr-0", got["active"][0], AGENTS[0], note="keep going")  # a silent manager
    bus.send(AGENTS[0], got["active"][0], "comment", "a very long note " + "x" * 300)
    clock.at(0)
    return {"tasks": got, "agents": AGENTS, "count": n}
