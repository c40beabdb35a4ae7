"""Across machines: the shared remote (git daemon on 127.0.0.1, or file://) decides every claim."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Daemon, git, unchanged
from racers import Racers

from repobus.bus import open_bus, with_config

Clones = Callable[[str, int], list[Path]]


def remote_refs(bare: Path) -> str:
    return git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/repobus/")


def test_init_adds_no_refspec_and_is_idempotent(bare: Path, make_clones: Clones, cli) -> None:  # type: ignore[no-untyped-def]
    (clone,) = make_clones(f"file://{bare}", 1)
    assert git(clone, "config", "repobus.remote") == "origin"
    # no refspec: a plain `git fetch` stays quiet and a plain `git push` never moves bus refs
    fetch = git(clone, "config", "--get-all", "remote.origin.fetch").splitlines()
    assert fetch == ["+refs/heads/*:refs/remotes/origin/*"]
    with unchanged(clone):
        assert "nothing changed" in cli("init", cwd=clone).out
    assert cli("init", "--remote", "nope", cwd=clone).code == 4


def test_a_clone_of_the_old_layout_moves_its_tracking_refs(
    bare: Path, make_clones: Clones, cli
) -> None:  # type: ignore[no-untyped-def]
    (clone,) = make_clones(f"file://{bare}", 1)
    assert cli("claim", "--task", "T-1", cwd=clone, agent="a1").code == 0
    tip = git(clone, "rev-parse", "refs/repobus-remote/origin/claims/T-1")
    # put the clone back into layout 1: refspec on the remote, refs under refs/remotes/
    git(
        clone,
        "config",
        "--add",
        "remote.origin.fetch",
        "refs/repobus/*:refs/remotes/origin-repobus/*",
    )
    git(clone, "update-ref", "refs/remotes/origin-repobus/claims/T-1", tip)
    git(clone, "update-ref", "-d", "refs/repobus-remote/origin/claims/T-1")
    git(clone, "config", "--unset", "repobus.trackingLayout")
    assert cli("status", cwd=clone).code == 0
    assert git(clone, "rev-parse", "refs/repobus-remote/origin/claims/T-1") == tip
    assert git(clone, "for-each-ref", "refs/remotes/").count("origin-repobus") == 0
    assert "origin-repobus" not in git(clone, "config", "--get-all", "remote.origin.fetch")
    assert "origin-repobus" not in git(clone, "branch", "-a")


def test_claim_is_decided_by_the_remote(
    remote_url: str, bare: Path, make_clones: Clones, cli
) -> None:  # type: ignore[no-untyped-def]
    a, b = make_clones(remote_url, 2)
    assert cli("claim", "--task", "T-1", cwd=a, agent="a1").code == 0
    assert "refs/repobus/claims/T-1" in remote_refs(bare)
    lost = cli("claim", "--task", "T-1", cwd=b, agent="b1")
    assert lost.code == 3 and "already claimed by a1" in lost.err
    # the loser fetched the winner's claim: its local view names the holder
    assert open_bus(b).store.get("claims", "T-1").record["agent_id"] == "a1"  # type: ignore[union-attr]


def test_different_tasks_from_several_clones_all_win(remote_url: str, make_clones: Clones) -> None:
    clones = make_clones(remote_url, 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "repobus", "claim", "--task", f"T-{i}", "--agent", f"ag{i}"],
            cwd=c,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i, c in enumerate(clones)
    ]
    codes = [p.wait(60) for p in procs]
    for p in procs:
        p.communicate()
    assert codes == [0, 0, 0]
    for c in clones:
        bus = open_bus(c)
        bus.store.sync()  # type: ignore[attr-defined]
        assert {s.key for s in bus.store.list("claims")} == {"T-0", "T-1", "T-2"}


@pytest.mark.parametrize("transport", ["daemon"])
def test_sixteen_racers_on_four_clones(transport: str, daemon: Daemon, make_clones: Clones) -> None:
    clones = make_clones(daemon.url, 4)
    places = [(clones[i % 4], f"racer-{i:02d}") for i in range(16)]
    racers = Racers(places)
    rounds = 20  # (the reliability suite races 300 rounds)
    winners: dict[str, str] = {}
    try:
        for r in range(rounds):
            task = f"R-{r:03d}"
            answers = racers.all(f"claim {task}")
            won = [places[i][1] for i, a in enumerate(answers) if a.startswith("won")]
            assert len(won) == 1, (task, answers)
            winners[task] = won[0]
    finally:
        racers.close()
    for c in clones:
        bus = open_bus(c)
        bus.store.sync()  # type: ignore[attr-defined]
        held = {s.key: s.record["agent_id"] for s in bus.store.list("claims")}
        assert held == winners
        assert list(bus.store.verify()) == []


def test_unreachable_remote_fails_closed_then_offline_and_sync(
    bare: Path, make_clones: Clones, cli
) -> None:  # type: ignore[no-untyped-def]
    d = Daemon(bare.parent)
    d.start()
    try:
        a, b = make_clones(d.url, 2)
        cli("claim", "--task", "HELD", cwd=a, agent="a1")
        d.stop()
        before_remote = remote_refs(bare)
        with unchanged(a):
            res = cli("claim", "--task", "T-9", cwd=a, agent="a1")
        assert res.code == 6 and "unreachable" in res.err and "nothing was changed" in res.err
        assert cli("renew", "--task", "HELD", cwd=a, agent="a1").code == 6
        assert remote_refs(bare) == before_remote
        # offline: recorded locally, confirmed by the next sync
        assert cli("claim", "--task", "T-9", "--offline", cwd=a, agent="a1").code == 0
        assert cli("claim", "--task", "T-8", "--offline", cwd=a, agent="a1").code == 0
        assert (
            cli("log", "--event", "note", "--summary", "offline note", cwd=a, agent="a1").code == 0
        )
        d.start()
        assert cli("claim", "--task", "T-8", cwd=b, agent="b1").code == 0  # b wins T-8 meanwhile
        res = cli("sync", "--json", cwd=a)
        assert res.code == 3 and "T-8 is held by b1" in res.out + res.err
        rep = cli("sync", "--json", cwd=a).json
        assert rep["lost"] == {} and rep["confirmed"] == []  # type: ignore[index]
        remote = remote_refs(bare)
        assert "refs/repobus/claims/T-9" in remote and "refs/repobus/events/a1" in remote
        assert open_bus(a).store.get("claims", "T-8").record["agent_id"] == "b1"  # type: ignore[union-attr]
        b_bus = open_bus(b)
        b_bus.store.sync()  # type: ignore[attr-defined]
        assert b_bus.store.get("claims", "T-9").record["agent_id"] == "a1"  # type: ignore[union-attr]
        assert "offline note" in {e.record["summary"] for e in b_bus.store.tail("events")}
    finally:
        d.stop()


def test_takeover_and_fencing_across_clones(remote_url: str, make_clones: Clones, cli) -> None:  # type: ignore[no-untyped-def]
    a, b = make_clones(remote_url, 2)
    git(a, "config", "repobus.leaseGrace", "0")
    git(b, "config", "repobus.leaseGrace", "0")
    bus_a = open_bus(a)
    bus_a.claim("a1", "T-1", ttl=1)
    bus_b = with_config(open_bus(b))
    bus_b.clock = lambda: bus_a.clock() + 10
    took = bus_b.claim("b1", "T-1")
    assert took.record["op"] == "takeover" and took.record["fencing_token"] == 2
    for args in (
        ("log", "--event", "status", "--summary", "x", "--task", "T-1"),
        ("renew", "--task", "T-1"),
        ("release", "--task", "T-1"),
    ):
        assert cli(*args, cwd=a, agent="a1").code == 3, args
    assert (
        cli(
            "log", "--event", "status", "--summary", "mine", "--task", "T-1", cwd=b, agent="b1"
        ).code
        == 0
    )


def test_one_agent_on_two_clones_loses_nothing(remote_url: str, make_clones: Clones) -> None:
    a, b = make_clones(remote_url, 2)
    bus_a, bus_b = open_bus(a), open_bus(b)
    for i in range(3):
        bus_a.log("same", "note", f"from-a-{i}")
        bus_b.log("same", "note", f"from-b-{i}")
    for bus in (bus_a, bus_b, bus_a):
        bus.store.sync()  # type: ignore[attr-defined]
    want = {f"from-{c}-{i}" for c in "ab" for i in range(3)}
    for bus in (bus_a, bus_b):
        assert {e.record["summary"] for e in bus.store.tail("events")} == want
        assert list(bus.store.verify()) == []


def test_sync_refuses_a_rewritten_remote_ref(bare: Path, make_clones: Clones, cli) -> None:  # type: ignore[no-untyped-def]
    a, b = make_clones(f"file://{bare}", 2)
    bus_a = open_bus(a)
    for i in range(3):
        bus_a.log("a1", "note", f"n{i}")
    open_bus(b).store.sync()  # type: ignore[attr-defined]
    # someone force-pushes a rewritten chain (first record only) to the remote
    first = git(a, "rev-list", "--reverse", "refs/repobus/events/a1").split()[0]
    git(bare, "update-ref", "refs/repobus/events/a1", first)
    git(bare, "commit-tree", "-m", "forged", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
    forged = git(
        bare,
        "commit-tree",
        "-p",
        first,
        "-m",
        '{"agent_id":"a1"}',
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    )
    git(bare, "update-ref", "refs/repobus/events/a1", forged)
    res = cli("sync", cwd=b)
    assert res.code == 1 and "rewrote refs/repobus/events/a1" in res.err
    assert len(open_bus(b).store.tail("events")) == 3


def test_status_fetch_and_sync_without_remote(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("sync", cwd=repo).code == 5
    assert cli("status", "--fetch", cwd=repo).code == 5


def test_status_fetch_shows_other_machines(remote_url: str, make_clones: Clones, cli) -> None:  # type: ignore[no-untyped-def]
    a, b = make_clones(remote_url, 2)
    cli("log", "--event", "status", "--summary", "from a", cwd=a, agent="a1")
    assert "from a" not in cli("status", cwd=b).out
    assert "from a" in cli("status", "--fetch", cwd=b).out


def test_watch_follow_remote_shows_other_machines(remote_url: str, make_clones: Clones) -> None:
    import select
    import time

    from conftest import run_console

    a, b = make_clones(remote_url, 2)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "repobus",
            "watch",
            "--follow",
            "--remote",
            "--interval",
            "0.3",
            "--limit",
            "0",
        ],
        cwd=b,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        seen = ""
        deadline = time.monotonic() + 30
        n = 0
        while "from-clone-a" not in seen and time.monotonic() < deadline:
            run_console(
                "log", "--event", "status", "--summary", f"from-clone-a {n}", cwd=a, agent="a1"
            )
            n += 1
            ready, _, _ = select.select([proc.stdout], [], [], 3)
            if ready:
                seen += proc.stdout.readline()  # type: ignore[union-attr]
        assert "from-clone-a" in seen
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
