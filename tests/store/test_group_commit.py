"""Group commit in one clone (store/remotestore.py `publish`): a waiter for the push turn whose
record the previous push carried returns without a git process; a record the remote lacks is
always pushed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import git

from repobus.bus import open_bus

Clones = Callable[[str, int], list[Path]]


@contextmanager
def git_calls() -> Iterator[list[tuple[str, ...]]]:
    """Every git process started meanwhile (subprocess.run, and Popen for network calls)."""
    calls: list[tuple[str, ...]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def note(args: tuple[object, ...], kw: dict[str, object]) -> None:
        argv = args[0] if args else kw.get("args")
        if isinstance(argv, (list, tuple)) and argv and argv[0] == "git":
            calls.append(tuple(argv[1:3]))

    def run(*args: object, **kw: object) -> object:
        note(args, kw)
        return real_run(*args, **kw)  # type: ignore[call-overload]

    class Popen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kw: object) -> None:
            note(args, kw)
            super().__init__(*args, **kw)

    subprocess.run, subprocess.Popen = run, Popen  # type: ignore[assignment, misc]
    try:
        yield calls
    finally:
        subprocess.run, subprocess.Popen = real_run, real_popen  # type: ignore[misc]


def _remote_summaries(bare: Path, agent: str) -> list[str]:
    out = git(bare, "log", "--format=%B", f"refs/repobus/events/{agent}", "--")
    return [line for line in out.splitlines() if line.startswith("{")]


def test_a_record_the_last_push_carried_needs_no_git(bare: Path, make_clones: Clones) -> None:
    (clone,) = make_clones(bare.as_uri(), 1)
    a1, a2 = open_bus(clone), open_bus(clone)
    a1.log("a1", "status", "first")
    a2.log("a2", "status", "second")  # its push leaves nothing ahead
    with git_calls() as calls:
        assert a1.store.publish("events", "a1") is None  # type: ignore[attr-defined]
    assert calls == []  # nothing moved since: the record went with that push
    assert len(_remote_summaries(bare, "a1")) == 1 and len(_remote_summaries(bare, "a2")) == 1


def test_a_record_the_remote_lacks_is_pushed(bare: Path, make_clones: Clones) -> None:
    (clone,) = make_clones(bare.as_uri(), 1)
    bus = open_bus(clone)
    bus.log("a1", "status", "first")
    bus.store.offline = True  # type: ignore[attr-defined]
    bus.log("a1", "status", "queued here")  # a ref moved, nothing pushed
    bus.store.offline = False  # type: ignore[attr-defined]
    with git_calls() as calls:
        assert bus.store.publish("events", "a1") is None  # type: ignore[attr-defined]
    assert ("push", "--porcelain") in calls
    assert [s for s in _remote_summaries(bare, "a1") if "queued here" in s]
    with git_calls() as calls:  # and now nothing is ahead: no git again
        assert bus.store.publish("events", "a1") is None  # type: ignore[attr-defined]
    assert calls == []
