"""Pausing someone else's live claim needs evidence (issue 15, item 4): its lease expired, or its
holder silent (no renew, event or message) for `repobus.pauseSilence` (default 15 min), or
`force` with a reason (recorded, and the holder is sent a message).  The holder's own pause is
unchanged.  Clocks are injected: no test waits."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, snapshot

from repobus.bus import Bus, open_bus, with_config
from repobus.errors import ConflictError, UsageError
from repobus.records import lease, times

T0 = 2_000_000_000
MIN = 60


def at(repo: Path, t: int) -> Bus:
    bus = with_config(open_bus(repo))
    bus.clock = lambda: t  # type: ignore[method-assign]
    return bus


def test_a_healthy_claim_is_not_paused_by_another_agent(any_repo: Path) -> None:
    at(any_repo, T0).claim("a1", "T-1", ttl=3600)
    before = snapshot(any_repo)
    with pytest.raises(ConflictError) as got:
        at(any_repo, T0 + 5 * MIN).pause("a2", "T-1", notes="looks stuck")
    text = got.value.message
    assert "a1 holds it" in text and "fencing token 1" in text
    assert f"last activity: {times.fmt(T0)} (claim of T-1)" in text
    assert f"pausing becomes possible at {times.fmt(T0 + 15 * MIN)}" in text
    assert "--force --reason" in (got.value.hint or "")
    assert snapshot(any_repo) == before


def test_a_silent_holder_may_be_paused(any_repo: Path) -> None:
    at(any_repo, T0).claim("a1", "T-1", ttl=3600)
    slot = at(any_repo, T0 + 15 * MIN).pause("a2", "T-1", notes="a1 silent")
    rec = slot.record
    assert rec["status"] == "paused" and rec["by"] == "a2" and rec["agent_id"] == "a1"
    assert "force_reason" not in rec
    took = at(any_repo, T0 + 16 * MIN).claim("a2", "T-1").record
    assert took["op"] == "takeover" and took["fencing_token"] == 2


@pytest.mark.parametrize("kind", ["renew", "event", "message"])
def test_any_sign_of_life_restarts_the_silence(any_repo: Path, kind: str) -> None:
    at(any_repo, T0).claim("a1", "T-1", ttl=3600)
    later = at(any_repo, T0 + 10 * MIN)
    if kind == "renew":
        later.renew("a1", "T-1", ttl=3600)
    elif kind == "event":
        later.log("a1", "progress", "still here")  # an event anywhere on the bus
    else:
        later.send("a1", "T-7", "comment", "still here")
    with pytest.raises(ConflictError) as got:
        at(any_repo, T0 + 16 * MIN).pause("a2", "T-1", notes="n")
    assert f"last activity: {times.fmt(T0 + 10 * MIN)}" in got.value.message
    assert f"possible at {times.fmt(T0 + 25 * MIN)}" in got.value.message
    at(any_repo, T0 + 25 * MIN).pause("a2", "T-1", notes="n")


def test_an_expired_lease_may_be_paused(repo: Path) -> None:
    bus = at(repo, T0)
    bus.claim("a1", "T-1", ttl=2 * MIN)
    bus.log("a1", "progress", "busy")  # not silent, but the lease ran out (grace included)
    end = T0 + 2 * MIN + bus.cfg.grace
    with pytest.raises(ConflictError, match=f"possible at {times.fmt(end + 1)}"):
        at(repo, end).pause("a2", "T-1", notes="n")
    assert at(repo, end + 1).pause("a2", "T-1", notes="expired").record["status"] == "paused"


def test_the_silence_is_a_setting(repo: Path) -> None:
    git(repo, "config", "repobus.pauseSilence", "2m")
    assert open_bus(repo).cfg.pause_silence == 120
    at(repo, T0).claim("a1", "T-1", ttl=3600)
    at(repo, T0 + 2 * MIN).pause("a2", "T-1", notes="n")
    git(repo, "config", "repobus.pauseSilence", "0")
    at(repo, T0).claim("a1", "T-2", ttl=3600)
    at(repo, T0).pause("a2", "T-2", notes="n")  # 0: anyone, at any time (the original's rule)


def test_force_needs_a_reason_is_recorded_and_tells_the_holder(any_repo: Path) -> None:
    at(any_repo, T0).claim("a1", "T-1", ttl=3600)
    now = at(any_repo, T0 + MIN)
    with pytest.raises(UsageError, match="--reason"):
        now.pause("a2", "T-1", notes="n", force=True)
    with pytest.raises(UsageError, match="--reason"):
        now.pause("a2", "T-1", notes="n", force=True, reason="  ")
    rec = now.pause("a2", "T-1", notes="tests half done", force=True, reason="loops").record
    assert rec["force_reason"] == "loops" and rec["by"] == "a2" and rec["status"] == "paused"
    inbox = now.messages(to="a1")
    assert [m["type"] for m in inbox] == ["pause_notice"]
    assert "a2 paused your claim on T-1 with --force: loops" in inbox[0]["summary"]
    again = at(any_repo, T0 + 2 * MIN).claim("a2", "T-1").record
    assert "force_reason" not in again  # said of that pause only


def test_the_holder_pauses_its_own_claim_as_before(any_repo: Path) -> None:
    at(any_repo, T0).claim("a1", "T-1", ttl=3600)
    rec = at(any_repo, T0 + MIN).pause("a1", "T-1", notes="lunch", force=True, reason="x").record
    assert rec["status"] == "paused" and "force_reason" not in rec
    assert open_bus(any_repo).messages(to="a1") == []
    # a paused claim is not live: anyone may pause it again
    at(any_repo, T0 + 2 * MIN).pause("a2", "T-1", notes="still paused")


def test_the_rule_lives_in_lease() -> None:
    assert lease.may_pause("paused", T0, T0, T0, 60, 900)
    assert not lease.may_pause("active", T0 + 3600, T0, T0 + 899, 60, 900)
    assert lease.may_pause("active", T0 + 3600, T0, T0 + 900, 60, 900)
    assert lease.may_pause("active", T0 + 3600, None, T0, 60, 900)  # never heard from
    assert lease.pausable_from(T0 + 100, T0, 60, 900) == T0 + 161
    assert lease.pausable_from(T0 + 3600, T0, 60, 900) == T0 + 900
    assert lease.pausable_from(None, None, 60, 900) == 0
