"""Which files hold a message (records/layout.py `lane`, `message_files`): the one rule the
dir backend's reads, `export` and `inbox` share, on both backends."""

from __future__ import annotations

from repobus.records import layout


def test_a_message_is_kept_in_its_task_thread_and_its_addressees_inbox() -> None:
    rec = {"task_id": "QUEUE-1", "to": "Manager"}
    assert layout.message_files(rec) == ["messages/QUEUE-1.jsonl", "messages/agent-manager.jsonl"]
    # where a dir backend read it from does not move a message that names its task
    assert layout.message_files(rec, "messages/QUEUE-1.jsonl") == layout.message_files(rec)


def test_a_message_without_a_task_keeps_the_lane_it_was_read_from() -> None:
    rec = {"ts": "2025-09-18T19:14:00Z", "from": "codex-1", "type": "summary", "summary": "s"}
    assert layout.lane(rec, "messages/manager-report.jsonl") == "manager-report"
    assert layout.lane(rec, "messages/BUS-COORD-0002.jsonl") == "BUS-COORD-0002"
    assert layout.message_files(rec, "messages/QUEUE-1.jsonl") == ["messages/QUEUE-1.jsonl"]
    # the git backend names a writer, no file: the managers' lane, never `None.jsonl`
    assert layout.message_files(rec, "codex-1") == ["messages/manager-report.jsonl"]
    assert layout.message_files({**rec, "task_id": None}) == ["messages/manager-report.jsonl"]


def test_a_message_read_from_an_inbox_alone_stays_in_that_inbox() -> None:
    rec = {"task_id": "manager-report", "to": "manager", "summary": "s"}
    assert layout.message_files(rec, "messages/agent-manager.jsonl") == [
        "messages/agent-manager.jsonl"
    ]
    no_to = {"task_id": "manager-report", "summary": "s"}
    assert layout.message_files(no_to, "messages/agent-codex-2.jsonl") == [
        "messages/agent-codex-2.jsonl"
    ]


def test_the_copies_of_one_message_are_the_same_message() -> None:
    thread = {"ts": "t", "from": "a", "task_id": "T", "to": "b", "seq": 3, "prev_hash": "x"}
    inbox = {**thread, "seq": 1, "anchor": {"lines": 2}}
    del inbox["prev_hash"]
    assert layout.message_identity(thread) == layout.message_identity(inbox)
    assert layout.message_identity(thread) != layout.message_identity({**inbox, "summary": "s"})
