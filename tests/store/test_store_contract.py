"""One contract, every backend: compare-and-swap slots, append-only chains, verify - on the
git store, the dir store, and the git store with a shared remote (file://) as the arbiter."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from repobus.bus import open_bus
from repobus.errors import CasFailed
from repobus.records import models
from repobus.store import Store


def store_of(path: Path) -> Store:
    return open_bus(path).store


@pytest.fixture(params=["git", "dir", "remote"])
def any_store(request: pytest.FixtureRequest) -> Path:
    """A repository on each backend; `remote`: a clone set up with `init --remote origin`."""
    if request.param == "remote":
        bare = request.getfixturevalue("bare")
        (clone,) = request.getfixturevalue("make_clones")(f"file://{bare}", 1)
        return Path(clone)
    return Path(request.getfixturevalue("dir_repo" if request.param == "dir" else "repo"))


def rec(n: int, **kw: object) -> dict[str, object]:
    return {
        "task_id": "T",
        "agent_id": f"a{n}",
        "branch": "agent/a/t",
        "status": "active",
        "claimed_at": "2025-01-01T00:00:00Z",
        **kw,
    }


def test_put_create_only_then_cas(any_store: Path) -> None:
    s = store_of(any_store)
    assert s.get("claims", "T") is None
    first = s.put("claims", "T", rec(1), None)
    with pytest.raises(CasFailed):
        s.put("claims", "T", rec(2), None)
    second = s.put("claims", "T", rec(2), first)
    with pytest.raises(CasFailed):
        s.put("claims", "T", rec(3), first)
    now = s.get("claims", "T")
    assert now is not None and now.record["agent_id"] == "a2" and now.version == second.version


def test_history_is_oldest_first_and_chained(any_store: Path) -> None:
    s = store_of(any_store)
    cur = None
    for i in range(4):
        cur = s.put("claims", "T", rec(i), cur)
    hist = s.history("claims", "T")
    assert [h.record["agent_id"] for h in hist] == ["a0", "a1", "a2", "a3"]
    assert [h.record["seq"] for h in hist] == [1, 2, 3, 4]
    for before, after in zip(hist, hist[1:], strict=False):
        assert after.record["prev_hash"] == models.record_hash(before.record)
    assert list(s.verify()) == []


def test_list_returns_every_slot(any_store: Path) -> None:
    s = store_of(any_store)
    for t in ("A", "B", "C"):
        s.put("claims", t, rec(1, task_id=t), None)
    assert sorted(x.key for x in s.list("claims")) == ["A", "B", "C"]


def _event(agent: str, n: int) -> dict[str, object]:
    return {
        "ts": f"2025-01-01T00:00:{n % 60:02d}Z",
        "agent_id": agent,
        "event": "status",
        "summary": f"{agent}-{n}",
    }


def test_append_and_tail(any_store: Path) -> None:
    s = store_of(any_store)
    for n in range(5):
        s.append("events", "a", _event("a", n))
        s.append("events", "b", _event("b", n))
    tail = s.tail("events", limit=3)
    assert len(tail) == 3
    assert {e.record["summary"] for e in s.tail("events")} == {
        f"{w}-{n}" for w in "ab" for n in range(5)
    }
    only_b = s.tail("events", writers=["b"])
    assert [e.record["summary"] for e in only_b] == [f"b-{n}" for n in range(5)]
    assert list(s.verify()) == []


def test_concurrent_appends_lose_nothing(any_store: Path) -> None:
    s = store_of(any_store)

    def writer(agent: str) -> None:
        mine = store_of(any_store)
        for n in range(15):
            mine.append("events", agent, _event(agent, n))

    threads = [threading.Thread(target=writer, args=(a,)) for a in ("x", "x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = [e.record["summary"] for e in s.tail("events")]
    assert len(got) == 45
    assert sorted(got).count("x-0") == 2
    assert list(s.verify()) == []


def test_guarded_append_fails_when_the_guard_moved(any_store: Path) -> None:
    s = store_of(any_store)
    slot = s.put("claims", "T", rec(1), None)
    s.append("events", "a1", _event("a1", 1), guard=slot)
    # with a remote, the guarded append also recorded a heartbeat on the claim: read it again
    held = s.get("claims", "T")
    assert held is not None and held.record["agent_id"] == "a1"
    s.put("claims", "T", rec(2), held)
    with pytest.raises(CasFailed):
        s.append("events", "a1", _event("a1", 2), guard=held)
    assert [e.record["summary"] for e in s.tail("events")] == ["a1-1"]


def test_since_heads_returns_only_new_records(any_store: Path) -> None:
    s = store_of(any_store)
    s.append("events", "a", _event("a", 0))
    heads = s.heads("events")
    s.append("events", "a", _event("a", 1))
    s.append("events", "b", _event("b", 2))
    new, heads2 = s.since_heads("events", heads)
    assert sorted(e.record["summary"] for e in new) == ["a-1", "b-2"]
    again, _ = s.since_heads("events", heads2)
    assert again == []


def test_messages_chain_and_verify(any_store: Path) -> None:
    bus = open_bus(any_store)
    ticks = iter(range(1_700_000_000, 1_700_000_100))
    bus.clock = lambda: next(ticks)  # records a second apart: the order is unambiguous
    bus.send("mgr", "Q-1", "assignment", "Assigned to eng", to="eng")
    bus.send("eng", "Q-1", "question", "which branch?")
    assert [m["summary"] for m in bus.messages(task="Q-1")] == ["Assigned to eng", "which branch?"]
    assert [m["summary"] for m in bus.messages(to="eng")] == ["Assigned to eng"]
    assert list(bus.store.verify()) == []
