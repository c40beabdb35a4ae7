"""A writer patches the status snapshot right after its own write (store/snappatch.py), so the
next `status --json` answers from the file: the patched snapshot must be byte for byte the one
the index would build, and must never be used once another write could be missing from it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import claims_of_every_kind, git, run_console

from repobus.bus import open_bus
from repobus.git import fingerprint
from repobus.store import snapbuild, snappatch, snapshot
from repobus.views import overview as views


def _body(data: bytes) -> bytes:
    """A snapshot from its `events` line on (the header before it names the moment)."""
    return data.split(b"\n", snapshot.HEAD)[-1]


def _settled(bus: object) -> bytes:
    """Age the refs past the trust window and let a full read write a trusted snapshot."""
    time.sleep(0.7)
    views.status_json(bus)  # type: ignore[arg-type]
    data = Path(snapshot.path_in(str(bus.repo.common_dir))).read_bytes()  # type: ignore[attr-defined]
    assert snapshot.gen_of(data) is not None and snapshot.gen_of(data)[1] == 0  # type: ignore[index]
    return data


def _rebuilt(bus: object) -> bytes:
    index = bus.store.index  # type: ignore[attr-defined]
    index.catch_up()
    built = snapbuild.build(index.db(), "s", "g")
    assert built is not None
    return built


def _current(common: str) -> bytes:
    data = Path(snapshot.path_in(common)).read_bytes()
    sig = fingerprint.ref_signature(common)[0]
    assert snapshot.fresh(data, sig, fingerprint.generation(common), time.time_ns())
    return data


def test_each_write_patches_the_snapshot_as_a_rebuild_would(repo: Path) -> None:
    bus = open_bus(repo)
    common = str(bus.repo.common_dir)
    claims_of_every_kind(bus)
    for i in range(snapshot.EVENTS - 3):  # the patches cross the number of events kept
        bus.log("a1", "status", f"e{i} \u00e9")
    _settled(bus)
    ops: list[Callable[[], object]] = [
        lambda: bus.log("a1", "status", "one \u2028 more"),
        lambda: bus.log("a2", "note", "by another agent", task="T-active"),
        lambda: bus.claim("a4", "T-new", ttl=600, notes="fresh"),
        lambda: bus.renew("a4", "T-new", ttl=900),
        lambda: bus.log("a4", "progress", "guarded", task="T-new"),
        lambda: bus.release("a4", "T-new"),
        lambda: bus.claim("a5", "T-done", ttl=600),  # a finished task taken again
        lambda: bus.send("a5", "T-done", "note", "a message: no content change"),
        lambda: bus.assign("mgr", "T-later", "a6"),
        lambda: bus.claim("a6", "T-0-first", ttl=600),  # sorts before every live task
        lambda: bus.log("a1", "status", "the last"),
    ]
    for n, op in enumerate(ops):
        op()
        data = _current(common)
        assert snapshot.gen_of(data)[1] != 0, f"op {n} did not patch"  # type: ignore[index]
        assert _body(data) == _body(_rebuilt(bus)), f"op {n}"


@pytest.mark.parametrize("mirror", ["false", "true"])
def test_status_right_after_a_write_is_served_lean_and_right(repo: Path, mirror: str) -> None:
    git(repo, "config", "repobus.mirror", mirror)
    run = run_console("init", "--agent", "a1", cwd=repo)
    assert run.returncode == 0, run.stderr
    bus = open_bus(repo)
    claims_of_every_kind(bus)
    _settled(bus)
    for i in range(3):
        w = run_console("log", "--event", "status", "--summary", f"w{i}", cwd=repo, agent="a7")
        assert w.returncode == 0, w.stderr
        res = run_console("status", "--json", cwd=repo, flags=("-X", "importtime"))
        assert res.returncode == 0, res.stderr[-2000:]
        assert "repobus.cli.commands" not in res.stderr, "the full command answered"
        doc = json.loads(res.stdout)
        assert doc["events"][-1]["summary"] == f"w{i}"
        ref = json.loads(views.status_json(open_bus(repo)))
        clock = ("lease_seconds_left", "lease_state")  # move with the clock between the reads
        strip = [{k: v for k, v in c.items() if k not in clock} for c in doc["claims"]]
        want = [{k: v for k, v in c.items() if k not in clock} for c in ref["claims"]]
        assert strip == want
        assert doc["events"] == ref["events"]


def test_status_right_after_a_remote_write_is_served_lean_and_right(
    bare: Path, make_clones: Callable[[str, int], list[Path]]
) -> None:
    """A clone whose writes go through a remote (claims pushed with a lease, events by group
    commit): the status right after each write is still the lean path's, and right."""
    (clone,) = make_clones(bare.as_uri(), 1)
    bus = open_bus(clone)
    bus.claim("a1", "T-1")
    _settled(bus)
    writes = [
        ("claim", "--task", "T-2"),
        ("log", "--event", "status", "--summary", "w1"),
        ("renew", "--task", "T-2"),
        ("log", "--event", "status", "--task", "T-2", "--summary", "w2"),
        ("send", "--task", "T-2", "--type", "note", "--summary", "m1"),
    ]
    for args in writes:
        w = run_console(*args, cwd=clone, agent="a7")
        assert w.returncode == 0 and w.stderr == "", (args, w.stderr)
        res = run_console("status", "--json", cwd=clone, flags=("-X", "importtime"))
        assert res.returncode == 0, res.stderr[-2000:]
        assert "repobus.cli.commands" not in res.stderr, f"the full command answered after {args}"
        doc = json.loads(res.stdout)
        ref = json.loads(views.status_json(open_bus(clone)))
        clock = ("lease_seconds_left", "lease_state")  # move with the clock between the reads
        strip = [{k: v for k, v in c.items() if k not in clock} for c in doc["claims"]]
        assert strip == [{k: v for k, v in c.items() if k not in clock} for c in ref["claims"]]
        assert doc["events"] == ref["events"]
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/repobus/events/a7") != ""


def test_another_write_between_probe_and_patch_leaves_no_patch(repo: Path) -> None:
    bus = open_bus(repo)
    common = str(bus.repo.common_dir)
    bus.log("a1", "status", "first")
    before = _settled(bus)
    probe = snappatch.probe(common)
    assert probe is not None
    assert fingerprint.bump(common)  # another process's write, counted in the generation
    tip = bus.store.heads("events")["refs/repobus/events/a1"]
    git(repo, "update-ref", "refs/repobus/events/zz", tip)
    assert not snappatch.apply(probe, events=[])
    assert Path(snapshot.path_in(common)).read_bytes() == before
    sig, gen = fingerprint.ref_signature(common)[0], fingerprint.generation(common)
    assert not snapshot.fresh(before, sig, gen, time.time_ns())  # and no reader uses it


def test_a_write_that_is_not_counted_stops_the_patches(repo: Path) -> None:
    bus = open_bus(repo)
    common = str(bus.repo.common_dir)
    bus.log("a1", "status", "first")
    _settled(bus)
    probe = snappatch.probe(common)
    from repobus.git.gitcmd import COUNTS

    COUNTS.missed += 1  # as when the generation file could not be written
    assert not snappatch.apply(probe, events=[])


def test_the_provisional_rule() -> None:
    head = snapshot.header("S", "7.3", 0)
    trusted = b"\n".join(head) + b"\n"
    assert snapshot.fresh(trusted, "S", "anything", 0)
    assert not snapshot.fresh(trusted, "other", "7.3", 0)
    now = time.time_ns()
    prov = b"\n".join(snapshot.header("S", "7.3", now - 10)) + b"\n"
    assert snapshot.fresh(prov, "S", "7.3", now)
    assert not snapshot.fresh(prov, "S", "7.4", now)  # another repobus write since
    assert not snapshot.fresh(prov, "S2", "7.3", now)  # a ref moved by anything else
    assert not snapshot.fresh(prov, "S", "7.3", now + fingerprint.PROVISIONAL_NS)  # too old
    assert not snapshot.fresh(None, "S", "7.3", now)


@pytest.mark.parametrize("writers", [4])
def test_concurrent_writers_never_hide_a_finished_write(repo: Path, writers: int) -> None:
    """Threads each with their own bus log at once; whenever a snapshot is current after all
    of them returned, it shows every event (the generation check refuses stale patches)."""
    bus = open_bus(repo)
    common = str(bus.repo.common_dir)
    bus.log("a0", "status", "seed")
    _settled(bus)
    done: list[str] = []

    def work(k: int) -> None:
        mine = open_bus(repo)
        for i in range(8):
            mine.log(f"w{k}", "status", f"w{k}-{i}")
            done.append(f"w{k}-{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(done) == writers * 8
    data = Path(snapshot.path_in(common)).read_bytes()
    sig, gen = fingerprint.ref_signature(common)[0], fingerprint.generation(common)
    if snapshot.fresh(data, sig, gen, time.time_ns()):
        assert _body(data) == _body(_rebuilt(bus))
    doc = json.loads(views.status_json(open_bus(repo), limit=snapshot.EVENTS))
    assert set(done) <= {e["summary"] for e in doc["events"]}
