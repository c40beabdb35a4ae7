"""One stale rule, one setting: the dashboard, MCP's `report`, the manager report, the
heartbeat, `repobus stale` and the session boot's peers name the same stale claims on one bus
(an active claim whose holder did nothing - no renew, event or message - for
`repobus.staleAfter`, default 4 h)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from repobus.bus import Bus, open_bus, with_config

HOUR = 3600


def _fleet(repo: Path) -> Bus:
    """Claims whose holders were last heard from at different times."""
    bus = open_bus(repo)
    now = bus.clock()

    def at(ago: int) -> Bus:
        then = with_config(bus)
        then.clock = lambda: now - ago  # type: ignore[method-assign]
        return then

    at(10 * HOUR).claim("e1", "QUEUE-001", ttl=24 * HOUR)  # silent 10 h
    bus.claim("e2", "QUEUE-002")  # just claimed
    at(10 * HOUR).claim("e3", "QUEUE-003", ttl=24 * HOUR)
    bus.log("e3", "status", "still on it", task="QUEUE-003")  # an event counts
    at(10 * HOUR).claim("e4", "QUEUE-004", ttl=24 * HOUR)
    bus.send("e4", "QUEUE-004", "status", "tests green")  # a message counts
    at(10 * HOUR).claim("e5", "QUEUE-005", ttl=24 * HOUR)
    at(10 * HOUR).pause("e5", "QUEUE-005", notes="waiting")  # paused: not stale
    at(10 * HOUR).claim("e6", "QUEUE-006", ttl=24 * HOUR)
    bus.renew("e6", "QUEUE-006")  # a renew counts
    at(5 * HOUR).claim("e7", "QUEUE-007", ttl=24 * HOUR)  # silent 5 h: past 4 h, not 6 h
    at(10 * HOUR).claim("e8", "QUEUE-008", ttl=HOUR)  # silent, and its lease expired too
    return bus


def _every_door(repo: Path, cli: Callable[..., Any]) -> dict[str, set[str]]:
    """The stale claims each door shows, read at the same moment on the same bus."""
    pytest.importorskip("mcp", reason="the mcp extra is not installed")
    from repobus.mcp.server import summary
    from repobus.playbook import boot, report
    from repobus.web import data

    bus = open_bus(repo)
    now = bus.clock()
    heartbeat = cli("heartbeat", "--dry-run", "--fail-on", "never", "--json", cwd=repo)
    stale = cli("stale", "--json", cwd=repo)
    assert heartbeat.code == 0 and stale.code == 0, heartbeat.err + stale.err
    return {
        "dashboard": {c["task_id"] for c in _dashboard_live(data.overview(bus)) if c["stale"]},
        "mcp report": set(summary(bus)["stale"]),
        "manager report": {r["task_id"] for r in report.collect(bus, repo, now)["stale"]},
        "heartbeat": {t for row in heartbeat.json["agent_idle"] for t in row["tasks"]},
        "repobus stale": {r["task_id"] for r in stale.json["stale"]},
        "boot peers": {p["task_id"] for p in boot.peers(bus, "nobody", now) if p["stale"]},
    }


def _dashboard_live(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The overview's live claims: those needing a person, then the other active ones."""
    return [*d["attention"], *d["claims"]]


def test_every_door_names_the_same_stale_claims(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _fleet(repo)
    got = _every_door(repo, cli)
    assert got == dict.fromkeys(got, {"QUEUE-001", "QUEUE-007", "QUEUE-008"})
    subprocess.run(["git", "config", "repobus.staleAfter", "6h"], cwd=repo, check=True)
    got = _every_door(repo, cli)
    assert got == dict.fromkeys(got, {"QUEUE-001", "QUEUE-008"})


def test_the_manager_report_and_stale_show_the_holders_silence(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _fleet(repo)
    rows = {r["task_id"]: r for r in cli("stale", "--json", cwd=repo).json["stale"]}
    assert 9.9 < rows["QUEUE-001"]["hours_stale"] < 10.1
    assert rows["QUEUE-008"]["lease_state"] == "expired"
    assert set(rows) == {"QUEUE-001", "QUEUE-007", "QUEUE-008"}
    # an explicit window still wins over the setting (the original tools' option)
    six = cli("stale", "--threshold-hours", "6", "--json", cwd=repo).json["stale"]
    assert {r["task_id"] for r in six} == {"QUEUE-001", "QUEUE-008"}
    assert cli("report", cwd=repo).code == 0
    text = next((repo / "_report" / "manager").glob("manager-report-*.md")).read_text()
    section = text.split("## Stale claims", 1)[1].split("## Assignments", 1)[0]
    assert "QUEUE-001 by e1: untouched" in section and "QUEUE-007 by e7: untouched" in section
    assert "QUEUE-003" not in section and "QUEUE-005" not in section


def test_a_claim_in_its_grace_period_shows_in_grace_and_no_negative_time(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(["git", "config", "repobus.leaseGrace", "1h"], cwd=repo, check=True)
    bus = open_bus(repo)
    now = bus.clock()
    past = with_config(bus)
    past.clock = lambda: now - 100  # type: ignore[method-assign]
    past.claim("e1", "QUEUE-001", ttl=10)  # the lease ended 90 s ago; the grace runs 1 h
    assert cli("report", cwd=repo).code == 0
    text = next((repo / "_report" / "manager").glob("manager-report-*.md")).read_text()
    assert "QUEUE-001: e1 [active] → agent/e1/queue-001 (token 1, in_grace)" in text
    assert " -" not in text.split("## Claims and leases", 1)[1].split("##", 1)[0]
    shown = cli("status", cwd=repo).out
    assert "QUEUE-001 [active] by e1" in shown and "lease ended, in grace (not free yet)" in shown
    held = cli("claim", "--task", "QUEUE-001", cwd=repo, agent="e2")
    assert held.code == 3 and "already claimed by e1" in held.err  # in grace: not free yet
