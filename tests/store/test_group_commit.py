"""Group commit in one clone (store/remotestore.py `publish`): a waiter for the push turn whose
record the previous push carried returns without a git process; a record the remote lacks is
always pushed; several processes logging in one clone share pushes, and every event reaches
the remote exactly once, in order per agent; a holder killed mid-push strands nothing."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, git_calls, released_together

from repobus.bus import open_bus
from repobus.git import gitcmd

Clones = Callable[[str, int], list[Path]]


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


# One agent logging in a clone: waits for `go` on stdin, logs N events, prints the number of
# pushes its process ran.
AGENT = """\
import subprocess, sys
from repobus.bus import open_bus
clone, agent, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
bus = open_bus(clone)
pushes = 0
real = subprocess.Popen.__init__
def spy(self, *args, **kw):
    global pushes
    argv = args[0] if args else kw.get("args")
    pushes += "push" in list(argv or [])
    real(self, *args, **kw)
subprocess.Popen.__init__ = spy
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    bus.log(agent, "status", f"{agent}-{i}")
print(pushes, flush=True)
"""


def _hook(bare: Path, name: str, body: str) -> None:
    path = bare / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _ordered(bare: Path, agent: str) -> list[str]:
    out = git(bare, "log", "--reverse", "--format=%s", f"refs/repobus/events/{agent}", "--")
    return [line.split('"summary":"', 1)[1].split('"', 1)[0] for line in out.splitlines()]


def test_agents_of_one_clone_share_pushes_and_lose_nothing(bare: Path, make_clones: Clones) -> None:
    (clone,) = make_clones(bare.as_uri(), 1)
    _hook(bare, "pre-receive", "cat >/dev/null; sleep 0.2\n")  # a slow remote: pushes overlap
    agents, n = [f"g{i}" for i in range(4)], 6
    argvs = [[sys.executable, "-c", AGENT, str(clone), a, str(n)] for a in agents]
    with released_together(argvs) as procs:
        outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-2000:] for o in outs]
    pushes = sum(int(o[0].strip()) for o in outs)
    for a in agents:  # on the remote as soon as each log returned: exactly once, in order
        assert _ordered(bare, a) == [f"{a}-{i}" for i in range(n)]
    assert 0 < pushes < len(agents) * n  # group commit: pushes carried several agents' events


# The first push waits in the server's hook (and says so); later pushes go through.
HOLD_FIRST = """\
cat >/dev/null
if [ ! -e "$HOLD" ]; then : > "$HOLD"; sleep 60; fi
"""


def test_a_holder_killed_mid_push_strands_nothing(
    bare: Path, make_clones: Clones, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clone,) = make_clones(bare.as_uri(), 1)
    held = tmp_path / "held"
    monkeypatch.setenv("HOLD", str(held))
    gitcmd._ENV = None
    _hook(bare, "pre-receive", HOLD_FIRST)
    holder = subprocess.Popen(  # its own process group: killed with its push and the hook
        [sys.executable, "-c", AGENT, str(clone), "holder", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    waiter: list[BaseException | None] = []
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        for _ in range(400):  # the holder's push is in the hook
            if held.exists():
                break
            time.sleep(0.05)
        assert held.exists()

        def other() -> None:  # waits for the holder's push to end, then pushes
            try:
                open_bus(clone).log("other", "status", "other-0")
                waiter.append(None)
            except BaseException as exc:  # reported below
                waiter.append(exc)

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.5)
        assert waiter == []  # blocked on the push in flight
        os.killpg(holder.pid, signal.SIGKILL)
        t.join(60)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.communicate(timeout=30)
    assert waiter == [None]
    assert _ordered(bare, "holder") == ["holder-0"]  # the holder's record went too
    assert _ordered(bare, "other") == ["other-0"]


def test_chains_of_other_clones_behind_the_remote_are_not_pushed(
    bare: Path, make_clones: Clones
) -> None:
    """A clone that synced other agents' chains, which then moved on at the remote: a log
    pushes only this clone's chain ahead - one push, no fetch, nothing rejected."""
    a, b = make_clones(bare.as_uri(), 2)
    open_bus(a).log("alice", "note", "a1")
    bob = open_bus(b)
    bob.log("bob", "note", "b1")
    bob.store.sync()  # type: ignore[attr-defined]  # b now holds alice's chain too
    open_bus(a).log("alice", "note", "a2")  # alice's chain moves on at the remote
    with git_calls() as calls:
        bob.log("bob", "note", "b2")
    verbs = [c[0] for c in calls]
    assert verbs.count("push") == 1 and "fetch" not in verbs, calls
    assert len(_remote_summaries(bare, "bob")) == 2 and len(_remote_summaries(bare, "alice")) == 2
