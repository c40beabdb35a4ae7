"""A long-lived worker for the reliability suite: one agent in one worktree or clone.

    rel_worker.py WORKTREE AGENT            requests as JSON lines on stdin, one answer each
    rel_worker.py --loop WORKTREE AGENT SEED MODE
                                            writes without pause until killed (crash trials)

Requests: {"op": "claim"|"renew"|"pause"|"release"|"log", "task": T, "fence": N|"mine"} answer
{"r": "ok"|<error kind>, "token": N, "ver": OID, "holder": ID, "t0": ns, "t1": ns} where
t0/t1 are CLOCK_MONOTONIC (one clock for every process on the machine) taken just before the
call and just after it returned; {"op": "script", "ops": [...]} arms a list of requests that
the next {"op": "go"} runs back to back (so a test can release every worker together);
{"op": "unsafe"} swaps in a deliberately broken store that writes with check-then-write
(reads the ref, then `git update-ref REF NEW` without the old value), for showing that the
linearizability checker catches a broken lock.  Loop mode prints one acknowledgement per
write that returned (the harness kills the process group at a random instant):
  E <summary> <oid>       an event appended (oid = its commit)
  C <task> <op> <oid>     a claim operation done (oid = the claim's new version)
  S <pushed>              a sync done
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from repobus.bus import Bus, open_bus
from repobus.errors import BusError, CasFailed
from repobus.store import Slot
from repobus.store.gitstore import GitStore


class CheckThenWriteStore(GitStore):
    """BROKEN ON PURPOSE: checks the version, then writes without a compare-and-swap."""

    def put(self, kind: str, key: str, record: dict[str, Any], expect: Slot | None) -> Slot:
        now = self.get(kind, key)
        if (now.version if now else None) != (expect.version if expect else None):
            raise CasFailed(self.ref(kind, key))
        rec, oid = self.prepare(kind, key, record, expect)
        self.repo.git("update-ref", self.ref(kind, key), oid)  # no old value: last one wins
        return Slot(kind, key, rec, oid)


class Worker:
    def __init__(self, bus: Bus, agent: str) -> None:
        self.bus = bus
        self.agent = agent
        self.mine: dict[str, int] = {}
        self.armed: list[dict[str, Any]] = []

    def fence(self, req: dict[str, Any]) -> int | None:
        f = req.get("fence")
        return self.mine.get(req["task"]) if f == "mine" else f

    def call(self, req: dict[str, Any]) -> dict[str, Any]:
        op, task = req["op"], req.get("task", "T-0")
        agent = req.get("agent", self.agent)
        fence = self.fence(req) if "fence" in req else None
        out: dict[str, Any] = {"op": op, "task": task, "agent": agent, "fence": fence}
        t0 = time.monotonic_ns()
        try:
            if op == "claim":
                slot = self.bus.claim(agent, task, ttl=req.get("ttl"))
                self.mine[task] = int(slot.record["fencing_token"])
            elif op == "renew":
                slot = self.bus.renew(agent, task, fence=fence)
            elif op == "pause":
                slot = self.bus.pause(agent, task, notes=req.get("notes", "paused by test"))
            elif op == "release":
                slot = self.bus.release(agent, task, status=req.get("status", "done"), fence=fence)
            elif op == "log":
                entry = self.bus.log(
                    agent,
                    req.get("event", "status"),
                    req.get("summary", "s"),
                    task=req.get("task"),
                    fence=fence,
                )
                out.update(r="ok", t0=t0, t1=time.monotonic_ns(), ver=entry.pos)
                return out
            else:
                raise ValueError(f"unknown op {op}")
            out.update(
                r="ok",
                t0=t0,
                t1=time.monotonic_ns(),
                ver=slot.version,
                token=slot.record.get("fencing_token"),
                status=slot.record.get("status"),
                holder=slot.record.get("agent_id"),
                rop=slot.record.get("op"),
            )
        except BusError as exc:
            t1 = time.monotonic_ns()
            out.update(r=exc.kind, t0=t0, t1=t1, msg=exc.message[:300])
            if op == "claim":
                try:
                    cur = self.bus.store.get("claims", task)
                    out["holder"] = cur.record.get("agent_id") if cur else None
                except BusError:
                    out["holder"] = "?"
        return out

    def handle(self, req: dict[str, Any]) -> Any:
        op = req["op"]
        if op == "script":
            self.armed = list(req["ops"])
            return {"armed": len(self.armed)}
        if op == "go":
            ops, self.armed = self.armed, []
            return {"results": [self.call(r) for r in ops]}
        if op == "unsafe":
            self.bus.store = CheckThenWriteStore(self.bus.repo, self.bus.cfg)
            return {"unsafe": True}
        if op == "sync":
            try:
                rep = self.bus.store.sync()  # type: ignore[attr-defined]
                return {
                    "r": "ok",
                    "pushed": len(rep.pushed),
                    "lost": rep.lost,
                    "refused": rep.refused,
                }
            except BusError as exc:
                return {"r": exc.kind, "msg": exc.message[:300]}
        return self.call(req)


def serve(worktree: str, agent: str) -> int:
    worker = Worker(open_bus(worktree), agent)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(worker.handle(json.loads(line))), flush=True)
    return 0


def loop(worktree: str, agent: str, seed: int, mode: str) -> int:
    """Write without pause until killed: `mode` is claim, log or sync (see module doc)."""
    rng = random.Random(seed)
    bus = open_bus(worktree)
    print("ready", flush=True)
    for n in range(100_000):
        task = f"K-{rng.randrange(4)}"
        if mode == "log" or (mode == "sync" and n % 2 == 0):
            guarded = rng.random() < 0.4
            if guarded:
                try:
                    bus.claim(agent, task)
                except BusError:
                    guarded = False
            summary = f"{agent}:{seed}:{n}"
            if mode == "sync":  # queue records locally, for the next sync to push
                bus.store.offline = True  # type: ignore[attr-defined]
            try:
                entry = bus.log(
                    agent, "status" if guarded else "tick", summary, task=task if guarded else None
                )
            except BusError as exc:
                print(f"F log {exc.kind}", flush=True)
                continue
            print(f"E {summary} {entry.pos}", flush=True)
        elif mode == "sync":
            bus.store.offline = False  # type: ignore[attr-defined]
            try:
                rep = bus.store.sync()  # type: ignore[attr-defined]
            except BusError as exc:
                print(f"F sync {exc.kind}", flush=True)
                continue
            print(f"S {len(rep.pushed)}", flush=True)
        else:
            cur = bus.store.get("claims", task)
            active = cur is not None and cur.record.get("status") == "active"
            try:
                if not active:
                    slot = bus.claim(agent, task)
                elif rng.random() < 0.5:
                    slot = bus.renew(agent, task)
                else:
                    slot = bus.release(agent, task)
            except BusError as exc:
                print(f"F claim {exc.kind}", flush=True)
                continue
            print(f"C {task} {slot.record['op']} {slot.version}", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--loop":
        raise SystemExit(loop(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
    raise SystemExit(serve(sys.argv[1], sys.argv[2]))
