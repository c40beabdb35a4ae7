"""16 processes in 4 worktrees claim one task at once, 50 rounds: exactly one winner each round,
no event lost, every chain intact."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from racers import Racers

from repobus.bus import open_bus


def test_sixteen_racers_in_four_worktrees(
    repo: Path, make_worktrees: Callable[[int], list[Path]]
) -> None:
    trees = make_worktrees(4)
    places = [(trees[i % 4], f"racer-{i:02d}") for i in range(16)]
    racers = Racers(places)
    rounds = 50
    try:
        for r in range(rounds):
            task = f"RACE-{r:03d}"
            answers = racers.all(f"claim {task}")
            winners = [i for i, a in enumerate(answers) if a.startswith("won")]
            assert len(winners) == 1, (task, answers)
            holder = places[winners[0]][1]
            assert all(a.split()[2] == holder for a in answers if a.startswith("lost")), answers
            assert racers.one(winners[0], f"work {task} {r}") == f"worked {task} {r}"
            assert set(racers.all(f"log {r}")) == {f"logged {r}"}
    finally:
        racers.close()
    bus = open_bus(repo)
    claims = {s.key: s.record for s in bus.store.list("claims")}
    assert len(claims) == rounds
    assert all(len(bus.store.history("claims", t)) == 1 for t in claims)
    events = [e.record for e in bus.store.tail("events")]
    assert len(events) == rounds * 16 + rounds
    guarded = [e for e in events if e["event"] == "status"]
    assert all(claims[e["task_id"]]["agent_id"] == e["agent_id"] for e in guarded)
    assert list(bus.store.verify()) == []
    fsck = subprocess.run(
        ["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stderr


def test_racers_on_the_dir_backend(dir_repo: Path) -> None:
    places = [(dir_repo, f"racer-{i}") for i in range(8)]
    racers = Racers(places)
    try:
        for r in range(20):
            answers = racers.all(f"claim D-{r}")
            assert sum(a.startswith("won") for a in answers) == 1, answers
            assert set(racers.all(f"log {r}")) == {f"logged {r}"}
    finally:
        racers.close()
    bus = open_bus(dir_repo)
    assert len(bus.store.tail("events")) == 20 * 8
    assert list(bus.store.verify()) == []
