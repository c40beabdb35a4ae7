"""Fences hold on every write (issue 15, item 1): a write presenting a fencing token that is no
longer the task's current one - renew, release, pause, an event of any name, a message of any
type - is refused (StaleTokenError; CLI exit 3; the MCP kind `stale_token`) and writes nothing,
through the CLI and through the use cases the MCP tools and the dashboard call
(playbook/doors.py).  An event a non-holder logs on a held task is kept, marked `holder`."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot

from repobus.bus import open_bus
from repobus.errors import StaleTokenError, UsageError
from repobus.playbook import doors

EVENTS = ("progress", "test", "status", "complete", "proposal", "audit", "note-1")
TYPES = ("comment", "status", "note", "request", "pause_notice", "info")
WRITES = ("renew", "release", "pause", "log", "send")
STATES = ("held", "paused", "done")  # the claim after a1's token 1 went stale
TRIALS = 40  # random writes per state and door


def _stale_task(repo: Path, state: str) -> None:
    """T-1: a1 got token 1, paused its claim, a2 took it over (token 2); then `state`."""
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    bus.pause("a1", "T-1", notes="stepping away")
    bus.claim("a2", "T-1")
    if state == "paused":
        bus.pause("a2", "T-1", notes="a2 paused")
    elif state == "done":
        bus.release("a2", "T-1", status="done")


def _door_write(repo: Path, rng: random.Random, agent: str, fence: int) -> Callable[[], Any]:
    """One random write with `fence` through playbook/doors.py, as the MCP tools call it."""
    door = doors.Door(open_bus(repo), context="test")
    what = rng.choice(WRITES)
    calls: dict[str, Callable[[], Any]] = {
        "renew": lambda: doors.renew(door, agent, "T-1", fence=fence),
        "release": lambda: doors.release(
            door, agent, "T-1", status=rng.choice(["done", "released", "paused"]), fence=fence
        ),
        "pause": lambda: doors.pause(
            door, agent, "T-1", notes="n", fence=fence, force=rng.random() < 0.5, reason="r"
        ),
        "log": lambda: doors.log(door, agent, rng.choice(EVENTS), "s", task="T-1", fence=fence),
        "send": lambda: doors.send(door, agent, "T-1", rng.choice(TYPES), "s", fence=fence),
    }
    return calls[what]


def _cli_write(rng: random.Random, fence: int) -> list[str]:
    what = rng.choice(WRITES)
    tail = ["--task", "T-1", "--fence", str(fence)]
    argv = {
        "renew": ["renew"],
        "release": ["release", "--status", rng.choice(["done", "released", "paused"])],
        "pause": ["pause", "--notes", "n"] + (["--force", "--reason", "r"] * rng.randint(0, 1)),
        "log": ["log", "--event", rng.choice(EVENTS), "--summary", "s"],
        "send": ["send", "--type", rng.choice(TYPES), "--summary", "s"],
    }[what]
    return argv + tail


@pytest.mark.parametrize("state", STATES)
def test_a_stale_fence_is_refused_on_every_write_through_the_doors(
    any_repo: Path, state: str
) -> None:
    _stale_task(any_repo, state)
    rng = random.Random(f"doors-{state}")
    before = snapshot(any_repo)
    refused = 0
    for _ in range(TRIALS):
        agent = rng.choice(["a1", "a2", "a3"])  # the old holder, the new one, a bystander
        fence = rng.choice([0, 1, 3, 99])  # never the current token, 2
        with pytest.raises(StaleTokenError):
            _door_write(any_repo, rng, agent, fence)()
        refused += 1
        assert snapshot(any_repo) == before  # nothing written, not even a guard's errors.jsonl
    assert refused == TRIALS


@pytest.mark.parametrize("state", STATES)
def test_a_stale_fence_is_refused_on_every_cli_write(repo: Path, cli, state: str) -> None:  # type: ignore[no-untyped-def]
    _stale_task(repo, state)
    rng = random.Random(f"cli-{state}")
    before = snapshot(repo)
    for _ in range(TRIALS):
        argv = _cli_write(rng, rng.choice([1, 7]))
        res = cli(*argv, cwd=repo, agent=rng.choice(["a1", "a2"]))
        assert res.code == 3, (argv, res.err)
        assert "stale fencing token" in res.err, (argv, res.err)
        assert snapshot(repo) == before, argv


def test_the_current_fence_is_accepted_and_recorded_on_any_event(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _stale_task(repo, "held")
    res = cli("log", "--event", "progress", "--summary", "s", "--task", "T-1", "--fence", "2",
              "--json", cwd=repo, agent="a2")  # fmt: skip
    assert res.code == 0, res.err
    assert res.json["fencing_token"] == 2 and "holder" not in res.json  # type: ignore[index]
    sent = cli("send", "--task", "T-1", "--type", "comment", "--summary", "s", "--fence", "2",
               cwd=repo, agent="a2")  # fmt: skip
    assert sent.code == 0, sent.err


def test_a_fence_on_a_task_without_a_claim_is_refused(repo: Path) -> None:
    bus = open_bus(repo)
    before = snapshot(repo)
    with pytest.raises(StaleTokenError, match="has no claim"):
        bus.log("a1", "progress", "s", task="T-9", fence=1)
    with pytest.raises(StaleTokenError, match="has no claim"):
        bus.send("a1", "T-9", "comment", "s", fence=1)
    with pytest.raises(UsageError, match="--task"):
        bus.log("a1", "progress", "s", fence=1)
    assert snapshot(repo) == before


def test_the_mcp_kind_of_a_stale_fence_is_stale_token(repo: Path) -> None:
    _stale_task(repo, "held")
    with pytest.raises(StaleTokenError) as got:
        open_bus(repo).log("a1", "progress", "s", task="T-1", fence=1)
    assert got.value.kind == "stale_token" and got.value.code == 3


def test_an_event_by_a_non_holder_is_kept_and_marked(any_repo: Path) -> None:
    bus = open_bus(any_repo)
    bus.claim("a1", "T-1")
    theirs = bus.log("a2", "progress", "looked at it", task="T-1").record
    mine = bus.log("a1", "progress", "working", task="T-1").record
    free = bus.log("a2", "progress", "no task").record
    assert theirs["holder"] == "a1"
    assert "holder" not in mine and "holder" not in free
    bus.release("a1", "T-1")
    assert "holder" not in bus.log("a2", "progress", "after", task="T-1").record
    with pytest.raises(UsageError, match="holder"):
        bus.log("a2", "progress", "s", task="T-1", extra={"holder": "a9"})
