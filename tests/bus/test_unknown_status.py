"""A claim whose status repobus does not know (the original tools' `in_progress`, `pending`)
is held (records/lease.py): another agent's claim is refused, naming holder and status; its
holder may claim it again; another agent may pause it only once the holder is silent for the
pause silence, and then take the paused claim over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repobus.bus import open_bus
from repobus.bus.core import Bus
from repobus.errors import ConflictError
from repobus.records import times

CLAIMED = "2025-11-08T23:38:21Z"


def _bus(repo: Path, now: int) -> Bus:
    bus = open_bus(repo)
    return Bus(bus.repo, bus.cfg, bus.store, clock=lambda: now)


def _legacy_claim(repo: Path, status: str) -> None:
    rec = {
        "agent_id": "codex-tier2",
        "branch": "agent/codex-tier2/systemic-automation",
        "claimed_at": CLAIMED,
        "status": status,
        "task_id": "QUEUE-055",
    }
    path = repo / "_bus" / "claims" / "QUEUE-055.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("status", ["in_progress", "pending"])
def test_another_agent_cannot_claim_it_however_old(dir_repo: Path, status: str) -> None:
    _legacy_claim(dir_repo, status)
    bus = _bus(dir_repo, times.parse_since(CLAIMED, "t") + 10 * 365 * 86400)
    with pytest.raises(ConflictError, match=f"codex-tier2; current status={status}"):
        bus.claim("codex-1", "QUEUE-055")
    again = bus.claim("codex-tier2", "QUEUE-055")  # its holder resumes it
    assert again.record["claimed_at"] == CLAIMED and again.record["op"] == "reclaim"


def test_it_is_paused_only_once_its_holder_is_silent(dir_repo: Path) -> None:
    _legacy_claim(dir_repo, "in_progress")
    start = times.parse_since(CLAIMED, "t")
    bus = _bus(dir_repo, start)
    silence = bus.cfg.pause_silence
    with pytest.raises(ConflictError, match="cannot pause task QUEUE-055"):
        _bus(dir_repo, start + silence - 1).pause("codex-1", "QUEUE-055", notes="gone?")
    with pytest.raises(ConflictError):  # a claim by codex-1 is refused: still held
        _bus(dir_repo, start + silence).claim("codex-1", "QUEUE-055")
    _bus(dir_repo, start + silence).pause("codex-1", "QUEUE-055", notes="gone")
    took = _bus(dir_repo, start + silence).claim("codex-1", "QUEUE-055")
    assert took.record["op"] == "takeover" and took.record["previous_holder"] == "codex-tier2"


def test_events_on_it_are_the_holders_alone(dir_repo: Path) -> None:
    _legacy_claim(dir_repo, "in_progress")
    bus = open_bus(dir_repo)
    with pytest.raises(ConflictError, match="currently claimed by codex-tier2"):
        bus.log("codex-1", "status", "mine now", task="QUEUE-055")
    bus.log("codex-tier2", "status", "still on it", task="QUEUE-055")
