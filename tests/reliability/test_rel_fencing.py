"""Part 5 - fencing: a holder whose claim was paused, or expired, and then taken over cannot
renew, release or log on the task (exit 3) - in one worktree, across worktrees of a clone and
across clones of one remote.

Two ways: every combination of (where, how the lease was lost, what the old holder tries) run
through the CLI, asserting exit 3 and nothing written; and random interleavings of claim,
renew, pause, release, guarded log and clock jumps by three agents, each step compared with
the sequential lease model (expiry included, on a virtual clock shared by the agents)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rel_lab import (
    Outcome,
    add_worktrees,
    bus_refs,
    cli,
    clone,
    git,
    new_bare,
    new_repo,
)

PLACES = ("local", "worktrees", "clones")
TTL = 100


def places(workdir: Path, where: str) -> list[Path]:
    """Three checkouts (one per agent) for `where`."""
    if where == "clones":
        bare = new_bare(workdir / "served" / "bus.git")
        out = [clone(f"file://{bare}", workdir / f"c{i}") for i in range(3)]
    else:
        repo = new_repo(workdir / "repo")
        out = [repo, *add_worktrees(repo, 2)] if where == "worktrees" else [repo] * 3
    for p in out:
        git(p, "config", "repobus.leaseGrace", "0")
    return out


def buses(trees: list[Path], clock: list[int]) -> list[Any]:
    from repobus.bus import open_bus, with_config

    out = []
    for t in trees:
        # pauseSilence 0: every holder counts as gone, so anyone may pause (the model's rule;
        # the evidence a pause needs is tested in tests/bus/test_pause_evidence.py)
        bus = with_config(open_bus(t), pause_silence=0)
        bus.clock = lambda: clock[0]
        out.append(bus)
    return out


# -- every combination through the CLI ------------------------------------------------------
ATTEMPTS = {
    "renew": ["renew", "--task", "{t}"],
    "renew --fence": ["renew", "--task", "{t}", "--fence", "1"],
    "release": ["release", "--task", "{t}"],
    "release --fence": ["release", "--task", "{t}", "--fence", "1"],
    "log status": ["log", "--event", "status", "--summary", "still mine", "--task", "{t}"],
    "log --fence": [
        "log",
        "--event",
        "complete",
        "--summary",
        "done",
        "--task",
        "{t}",
        "--fence",
        "1",
    ],
    "send status": ["send", "--task", "{t}", "--type", "status", "--summary", "still mine"],
}
LOSSES = ("paused by another", "paused by itself", "expired")


def lose(a_bus: Any, b_bus: Any, clock: list[int], task: str, loss: str) -> None:
    """a1 claims `task`, loses it (`loss`), b1 takes it over with token 2."""
    a_bus.claim("a1", task, ttl=TTL)
    if loss == "paused by another":
        b_bus.pause("c1", task, notes="a1 looks stuck")
    elif loss == "paused by itself":
        a_bus.pause("a1", task, notes="stepping away")
    else:
        clock[0] += 2 * TTL
    took = b_bus.claim("b1", task, ttl=TTL)
    assert took.record["fencing_token"] == 2 and took.record["op"] == "takeover", took.record


@pytest.mark.parametrize("where", PLACES)
def test_superseded_holder_is_fenced_off(tmp_path: Path, where: str) -> None:
    out = run_matrix(tmp_path, where)
    assert out.failures == 0, "\n".join(out.details)


def run_matrix(workdir: Path, where: str) -> Outcome:
    import time

    out = Outcome(f"fencing matrix ({where})", "")
    trees = places(workdir, where)
    clock = [int(time.time())]
    a_bus, b_bus, _ = buses(trees, clock)
    for n, (loss, attempt) in enumerate((lo, at) for lo in LOSSES for at in ATTEMPTS):
        task = f"F-{n:02d}"
        lose(a_bus, b_bus, clock, task, loss)
        argv = [x.format(t=task) for x in ATTEMPTS[attempt]]
        before = bus_refs(trees[0], "refs/")
        code, _, err = cli(*argv, cwd=trees[0], agent="a1")
        out.trials += 1
        if code != 3:
            out.fail(f"{where}: {loss}, then `{' '.join(argv)}` by a1 exited {code}: {err}")
        changed = {
            r
            for r, o in bus_refs(trees[0], "refs/").items()
            if before.get(r) != o and ("/events/" in r or "/messages/" in r)
        }
        if changed:
            out.fail(f"{where}: {loss}, {attempt}: a refused command moved {sorted(changed)}")
        b_bus.store.refresh("claims", task)  # across clones: the remote's word
        still = b_bus.store.get("claims", task)
        if still is None or still.record["agent_id"] != "b1" or still.record["fencing_token"] != 2:
            out.fail(f"{where}: {loss}, {attempt}: the claim is no longer b1's with token 2")
    return out


# -- random interleavings against the model -----------------------------------------------------
@dataclass(frozen=True)
class Lease:
    holder: str
    status: str
    token: int
    end: int


def model(
    state: Lease | None, op: str, agent: str, fence: int | None, now: int
) -> tuple[int, int | None, Lease | None]:
    """(exit code, token when ok, next state) of one step; grace 0, leases of TTL seconds."""
    if op == "claim":
        if state is None:
            return 0, 1, Lease(agent, "active", 1, now + TTL)
        same = state.holder == agent and state.status in ("active", "paused")
        if not same and state.status == "active" and now <= state.end:
            return 3, None, state
        tok = state.token if same else state.token + 1
        return 0, tok, Lease(agent, "active", tok, now + TTL)
    if state is None:
        return 4, None, None
    if op == "pause":
        if state.status not in ("active", "paused"):
            return 3, None, state
        return 0, state.token, Lease(state.holder, "paused", state.token, state.end)
    if op == "log" and state.status in ("done", "released"):
        # anyone may log on a finished task, but a fence presented must still be current
        return (0 if fence in (None, state.token) else 3), None, state
    if state.holder != agent or (fence is not None and fence != state.token):
        return 3, None, state
    if op == "renew":
        if state.status != "active":
            return 3, None, state
        return 0, state.token, Lease(agent, "active", state.token, now + TTL)
    if op == "release":
        return 0, state.token, Lease(agent, "done", state.token, state.end)
    return 0, None, state  # log by the holder (active or paused)


def real(
    bus: Any, op: str, agent: str, task: str, fence: int | None
) -> tuple[int, int | None, str]:
    from repobus.errors import BusError

    try:
        if op == "claim":
            slot = bus.claim(agent, task, ttl=TTL)
        elif op == "renew":
            slot = bus.renew(agent, task, ttl=TTL, fence=fence)
        elif op == "pause":
            slot = bus.pause(agent, task, notes="pause")
        elif op == "release":
            slot = bus.release(agent, task, fence=fence)
        else:
            bus.log(agent, "status", "s", task=task, fence=fence)
            return 0, None, ""
        return 0, int(slot.record["fencing_token"]), ""
    except BusError as exc:
        return exc.code, None, exc.message


OPS = {"claim": 3, "renew": 2, "pause": 2, "release": 1, "log": 3, "advance": 1}
AGENTS = ("a1", "b1", "c1")


def interleave(
    out: Outcome,
    bs: list[Any],
    clock: list[int],
    task: str,
    rng: random.Random,
    steps: int,
    where: str,
) -> None:
    state: Lease | None = None
    mine: dict[str, int] = {}
    held: set[str] = set()
    trace: list[str] = []
    for _ in range(steps):
        op = rng.choices(list(OPS), weights=list(OPS.values()))[0]
        if op == "advance":
            clock[0] += 2 * TTL
            trace.append("clock +2ttl")
            continue
        i = rng.randrange(3)
        agent = AGENTS[i]
        fence = None
        if op in ("renew", "release", "log") and agent in mine and rng.random() < 0.6:
            fence = mine[agent] - (1 if rng.random() < 0.25 and mine[agent] > 1 else 0)
        want, want_tok, nxt = model(state, op, agent, fence, clock[0])
        got, got_tok, msg = real(bs[i], op, agent, task, fence)
        trace.append(
            f"{agent} {op}{'' if fence is None else f' fence={fence}'} -> {got}"
            + (f" ({msg[:150]})" if got not in (0, 3, 4) else "")
        )
        superseded = (
            agent in held
            and state is not None
            and state.holder != agent
            and state.status in ("active", "paused")
            and op in ("renew", "release", "log")
        )
        if superseded:
            out.count("superseded holder attempts")
        if (got, got_tok if want_tok is not None else None) != (want, want_tok):
            what = "FENCING " if superseded else ""
            out.fail(
                f"{where} {task}: {what}step {len(trace)} expected {want} (token "
                f"{want_tok}), got {got} (token {got_tok}):\n  " + "\n  ".join(trace)
            )
            return
        if op == "claim" and got == 0 and got_tok is not None:
            mine[agent] = got_tok
            held.add(agent)
        state = nxt


def run(workdir: Path, interleavings: int, steps: int = 10, seed: int = 5) -> Outcome:
    import time

    out = Outcome(
        "fencing",
        f"random interleavings of 3 agents x {steps} steps vs the lease "
        "model (expiry on a virtual clock), local/worktrees/clones; plus "
        "superseded holder's renew/release/log/send -> exit 3",
    )
    rng = random.Random(seed)
    for where in PLACES:
        clock = [int(time.time())]
        bs = buses(places(workdir / where, where), clock)
        for n in range(interleavings):
            interleave(out, bs, clock, f"I-{n:04d}", rng, steps, where)
            out.trials += 1
        matrix = run_matrix(workdir / f"{where}-matrix", where)
        out.trials += matrix.trials
        for d in matrix.details:
            out.fail(d)
    return out


@pytest.mark.parametrize("where", PLACES)
def test_interleavings_match_the_lease_model(tmp_path: Path, where: str) -> None:
    import time

    out = Outcome("fencing", "")
    clock = [int(time.time())]
    bs = buses(places(tmp_path, where), clock)
    rng = random.Random(PLACES.index(where))
    for n in range(12):
        interleave(out, bs, clock, f"I-{n:04d}", rng, 10, where)
    assert out.failures == 0, "\n".join(out.details)
    assert out.counters.get("superseded holder attempts", 0) > 0


def test_guarded_log_on_a_task_reclaimed_in_another_clone_is_refused(tmp_path: Path) -> None:
    a, b, _ = places(tmp_path, "clones")
    for args, where, agent in (
        (("claim", "--task", "T-1"), a, "a1"),
        (("release", "--task", "T-1"), a, "a1"),
        (("claim", "--task", "T-1"), b, "b1"),
    ):
        assert cli(*args, cwd=where, agent=agent)[0] == 0
    code, _, err = cli(
        "log", "--event", "status", "--summary", "still mine", "--task", "T-1", cwd=a, agent="a1"
    )
    assert code == 3 and "b1" in err, (code, err)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a long variant: past the suite's 300 s default
def test_interleavings_long(tmp_path: Path) -> None:
    out = run(tmp_path, interleavings=100, seed=50)
    assert out.failures == 0, "\n".join(out.details)
