"""A Wing-Gong style linearizability checker, and the sequential lease model it checks against.

A history is a list of completed operations, each with the instant it was invoked and the
instant it returned (one monotonic clock for every process) and the result it returned.  The
history is linearizable when the operations can be put in one sequential order that
(a) respects real time: an operation that returned before another was invoked comes first,
and (b) gives, run through the sequential model from the initial state, exactly the results
the processes saw.

The search is Wing & Gong's (1993): repeatedly pick a *minimal* pending operation (one that no
other pending operation returned before), apply it to the model, and backtrack when the
result disagrees; with Lowe's memoisation (2017) of (set of operations linearized, model
state) pairs already explored, so equivalent prefixes are searched once.  The search is
bounded (`budget` model steps); past it the answer is "unknown", never "ok".  Operations on
different tasks are independent (linearizability is local, Herlihy & Wing 1990), so a
history is split by task and each part checked on its own.

The lease model is repobus's claim state machine for one task (bus.py), with expiry modelled
out (the tests use long leases):
  claim(a)      free, finished (done/released), paused, or already a's: a holds it, active;
                the fencing token goes up unless a already held it (active or paused);
                held active by another agent: conflict
  renew(a, f)   a holds it, active, and f (when given) is the token: ok; else conflict
  pause(a)      active or paused: paused (anyone may pause; the holder is kept); else conflict
  release(a, f) a holds it and f (when given) is the token: done; else conflict
  no claim at all: renew, pause and release are not_found
Results compared: the kind (ok / conflict / not_found) and, when ok, the fencing token.  A
`locked` result (a ref lock held too long; nothing written) is accepted in any state and
changes nothing.  An `unknown` result (the remote failed mid-operation) may have taken effect
or not: it is linearized anywhere after its call, or left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

State = tuple[str, str, int] | None  # (holder, status, fencing token), None: never claimed


@dataclass(frozen=True)
class Op:
    proc: int
    call: int
    ret: int
    name: str
    agent: str
    task: str = "T"
    fence: int | None = None
    result: str = "ok"
    token: int | None = None

    def describe(self) -> str:
        f = "" if self.fence is None else f", fence={self.fence}"
        got = self.result + ("" if self.token is None else f"(token {self.token})")
        return f"p{self.proc} {self.name}({self.agent}{f}) -> {got} [{self.call}..{self.ret}]"


# Errors after which the operation may or may not have taken effect (a transport failure,
# or a failed fetch after the push): such an op may be linearized anywhere after its call,
# or not at all (Knossos' "info" operations).
UNKNOWN = ("remote", "rewritten", "git", "internal")


def op_from(proc: int, res: dict[str, Any]) -> Op:
    """An Op from a worker's answer (rel_worker.py)."""
    kind = res["r"]
    result = (
        "ok"
        if kind == "ok"
        else "not_found"
        if kind == "not_found"
        else "locked"
        if kind == "locked"
        else "conflict"
        if kind in ("conflict", "stale_token")
        else "unknown"
        if kind in UNKNOWN
        else kind
    )
    token = res.get("token") if kind == "ok" else None
    return Op(
        proc,
        res["t0"],
        res["t1"],
        res["op"],
        res["agent"],
        res.get("task", "T"),
        res.get("fence"),
        result,
        token,
    )


def step(state: State, op: Op) -> tuple[tuple[str, int | None], State]:
    """The sequential model: (expected result, token), next state."""
    name, a = op.name, op.agent
    if name == "claim":
        if state is None:
            return ("ok", 1), (a, "active", 1)
        holder, status, tok = state
        same = holder == a and status in ("active", "paused")
        if not same and status == "active":
            return ("conflict", None), state
        tok = tok if same else tok + 1
        return ("ok", tok), (a, "active", tok)
    if state is None:
        return ("not_found", None), state
    holder, status, tok = state
    if name == "pause":
        if status not in ("active", "paused"):
            return ("conflict", None), state
        return ("ok", tok), (holder, "paused", tok)
    owner_ok = holder == a and (op.fence is None or op.fence == tok)
    if name == "renew":
        if not owner_ok or status != "active":
            return ("conflict", None), state
        return ("ok", tok), state
    if name == "release":
        if not owner_ok:
            return ("conflict", None), state
        return ("ok", tok), (holder, "done", tok)
    raise ValueError(f"unknown operation {name}")


def _matches(op: Op, state: State) -> tuple[bool, State]:
    if op.result == "locked":
        return True, state
    (kind, tok), nxt = step(state, op)
    if op.result == "unknown":
        return True, nxt
    if kind != op.result:
        return False, state
    if kind == "ok" and op.token is not None and tok != op.token:
        return False, state
    return True, nxt


@dataclass
class Verdict:
    ok: bool | None  # None: search budget exhausted
    order: list[Op] = field(default_factory=list)  # a linearization, or the longest prefix
    stuck: list[Op] = field(default_factory=list)  # minimal ops none of which fit after it
    steps: int = 0

    def explain(self) -> str:
        lines = ["longest linearizable prefix:"]
        lines += [f"  {op.describe()}" for op in self.order]
        lines.append("none of these fits next:")
        lines += [f"  {op.describe()}" for op in self.stuck]
        return "\n".join(lines)


def check_one(ops: Sequence[Op], init: State = None, budget: int = 2_000_000) -> Verdict:
    """Search a linearization of `ops` (one task) from `init`."""
    ops = sorted(ops, key=lambda o: o.call)
    n = len(ops)
    full = sum(1 << i for i, o in enumerate(ops) if o.result != "unknown")
    seen: set[tuple[int, State]] = set()
    best: tuple[int, list[Op], list[Op]] = (-1, [], [])
    steps = 0
    # Explicit stack of (done mask, state, order so far): depth-first, bounded.
    stack: list[tuple[int, State, list[Op]]] = [(0, init, [])]
    while stack:
        done, state, order = stack.pop()
        if done & full == full:
            return Verdict(True, order, [], steps)
        if (done, state) in seen:
            continue
        seen.add((done, state))
        pending = [i for i in range(n) if not done >> i & 1]
        first_ret = min(ops[i].ret for i in pending if full >> i & 1)
        minimal = [i for i in pending if ops[i].call <= first_ret]
        fits = []
        for i in minimal:
            steps += 1
            ok, nxt = _matches(ops[i], state)
            if ok:
                fits.append((done | 1 << i, nxt, [*order, ops[i]]))
        if not fits and len(order) > best[0]:
            best = (len(order), order, [ops[i] for i in minimal])
        stack.extend(reversed(fits))
        if steps > budget:
            return Verdict(None, best[1], best[2], steps)
    return Verdict(False, best[1], best[2], steps)


def check(ops: Iterable[Op], budget: int = 2_000_000) -> dict[str, Verdict]:
    """Check a history over several tasks, task by task; {task: verdict}."""
    by_task: dict[str, list[Op]] = {}
    for op in ops:
        by_task.setdefault(op.task, []).append(op)
    return {task: check_one(part, budget=budget) for task, part in sorted(by_task.items())}
