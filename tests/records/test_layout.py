"""One `_bus/` layout (records/layout.py): `place` inverts every record path, and the dir
backend writes exactly the files `export` lays out and `check` reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repobus.bus import open_bus
from repobus.checks import check
from repobus.records import layout
from repobus.views import overview as views

IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", fullmatch=True).filter(
    lambda s: ".." not in s and not s.endswith((".", ".lock"))
)


@given(key=IDS, kind=st.sampled_from(layout.SLOT_KINDS))
def test_place_inverts_slot_files(key: str, kind: str) -> None:
    assert layout.place(layout.slot_file(kind, key)) == (kind, key)
    assert layout.place_of(layout.bus_path(layout.slot_file(kind, key))) == (kind, key)


@given(key=IDS)
def test_place_inverts_threads_and_inboxes(key: str) -> None:
    assert layout.place(layout.thread_file(key)) == ("messages", key)
    assert layout.place(layout.inbox_file(key)) == ("messages", layout.inbox_lane(key))
    assert layout.is_inbox(layout.inbox_lane(key)) and layout.is_lane(layout.inbox_lane(key))


def test_the_fixed_files() -> None:
    assert layout.place(layout.EVENTS_LOG) == ("events", "events")
    assert layout.place(layout.MANAGER_REPORT) == ("messages", layout.MANAGER_LANE)
    assert layout.inbox_file("Codex-2") == "messages/agent-codex-2.jsonl"
    assert layout.message_files({"task_id": "T-1", "to": "B2"}) == [
        "messages/T-1.jsonl",
        "messages/agent-b2.jsonl",
    ]
    assert layout.is_lane("BUS-COORD-0006") and not layout.is_lane("QUEUE-001")


@pytest.mark.parametrize(
    "rel",
    [
        "history/claims/T-1.jsonl",
        "README.txt",
        "claims/T-1.jsonl",
        "claims/.json",
        "claims/a/b.json",
        "events/other.jsonl",
        "messages/T-1.json",
        "sessions/a1.json",
    ],
)
def test_anything_else_is_no_record_file(rel: str) -> None:
    assert layout.place(rel) is None
    assert layout.place_of(layout.bus_path(rel)) is None
    assert layout.place_of(rel) is None


def test_the_dir_backend_writes_what_export_lays_out_and_check_reads(dir_repo: Path) -> None:
    bus = open_bus(dir_repo)
    bus.assign("mgr", "T-1", "a1")
    bus.claim("a1", "T-1")
    bus.log("a1", "status", "working", task="T-1")
    bus.send("a1", "T-1", "status", "half done", to="mgr")
    bus.send("mgr", layout.MANAGER_LANE, "note", "all well")
    base = dir_repo / layout.BUS_DIR
    written = {
        str(p.relative_to(base)): p.read_text()
        for p in base.rglob("*")
        if p.is_file() and layout.place(str(p.relative_to(base))) is not None
    }
    assert set(written) == set(views.tree(bus))  # (an inbox file here chains its own seq)
    assert written == check.read_tree(base)
    assert {layout.place(rel) for rel in written} == {
        ("claims", "T-1"),
        ("assignments", "T-1"),
        ("events", "events"),
        ("messages", "T-1"),
        ("messages", "agent-a1"),
        ("messages", "agent-mgr"),
        ("messages", layout.MANAGER_LANE),
    }
    assert check.check_files(written)[0] == []
