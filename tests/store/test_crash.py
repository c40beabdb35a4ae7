"""kill -9 in the middle of writes: the bus stays readable, every acknowledged write is there,
verify is clean, git fsck is clean; a lock left by a killed writer is recovered."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git

from repobus.bus import open_bus

WORKER = str(Path(__file__).parents[1] / "crash_worker.py")


def _crash_once(repo: Path, agent: str, start: int, acks_before_kill: int) -> set[str]:
    proc = subprocess.Popen(
        [sys.executable, WORKER, str(repo), agent, str(start)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    acked: set[str] = set()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(acks_before_kill):
            line = proc.stdout.readline().split()
            if line and line[0] == "E":
                acked.add(f"{agent}:{line[1]}")
        time.sleep(random.uniform(0, 0.004))  # land the kill anywhere inside the next write
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
    return acked


@pytest.mark.parametrize("backend", ["git", "dir"])
def test_kill_nine_during_writes(repo: Path, backend: str) -> None:
    git(repo, "config", "repobus.backend", backend)
    git(repo, "config", "repobus.lockStale", "0")  # recover leftover locks at once
    rng = random.Random(7)
    acked: set[str] = set()
    for trial in range(12):
        acked |= _crash_once(repo, "crashy", trial * 1000, rng.randint(1, 25))
        bus = open_bus(repo)
        present = {e.record["summary"] for e in bus.store.tail("events")}
        assert acked <= present, sorted(acked - present)[:5]
        assert list(bus.store.verify()) == []
        bus.log("observer", "tick", f"after-{trial}")  # the bus still takes writes
    fsck = subprocess.run(
        ["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stderr


def test_lock_left_by_a_killed_writer_is_recovered(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    lock = repo / ".git/refs/repobus/claims/T-1.lock"
    lock.write_text("")
    res = cli("renew", "--task", "T-1", cwd=repo, agent="a1")
    assert res.code == 3 and "locked" in res.err and "doctor --fix" in res.err
    old = time.time() - 60
    os.utime(lock, (old, old))
    res = cli("renew", "--task", "T-1", cwd=repo, agent="a1")
    assert res.code == 0, res.err
    assert not lock.exists()
