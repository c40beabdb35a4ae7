"""The clone's turn locks (store/files.py `locked_within`): a wait is bounded; a lock given up
on is not left held; shared holders do not exclude each other but do exclude a writer."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from repobus.store.files import locked_within


def _hold(path: Path, mode: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, mode)
    return fd


def test_a_held_lock_is_waited_for_within_the_bound_then_free_again(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "turn.lock"
    lock.parent.mkdir()
    fd = _hold(lock, fcntl.LOCK_EX)
    with locked_within(lock, 0.2) as got:
        assert got is False  # held elsewhere: given up on after the wait
    os.close(fd)
    # the helper that was still waiting must not keep it: it is free for the next comer
    for _ in range(100):
        with locked_within(lock, 0.05) as got:
            if got:
                break
    assert got
    probe = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nothing holds it now
    finally:
        os.close(probe)


def test_shared_holds_exclude_only_the_exclusive_one(tmp_path: Path) -> None:
    lock = tmp_path / "turn.lock"
    fd = _hold(lock, fcntl.LOCK_SH)
    try:
        with locked_within(lock, 0.1, shared=True) as got:
            assert got is True
        with locked_within(lock, 0.1) as got:
            assert got is False
    finally:
        os.close(fd)
    with locked_within(lock, 1.0) as got:
        assert got is True


def test_a_wait_ends_when_the_holder_lets_go(tmp_path: Path) -> None:
    import threading

    lock = tmp_path / "turn.lock"
    fd = _hold(lock, fcntl.LOCK_EX)
    threading.Timer(0.2, os.close, (fd,)).start()
    with locked_within(lock, 30.0) as got:
        assert got is True
