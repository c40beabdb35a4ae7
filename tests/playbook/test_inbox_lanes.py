"""Inboxes and lanes on both backends: the git backend keeps messages per writer, the dir
backend per file (its thread, plus its addressee's inbox); `inbox` and `export` agree on
which files hold a message (records/layout.py `message_files`).  The dir backend also reads
the files the original tools wrote: an inbox line with no thread copy, and a task-less line
of the managers' lane, each kept in the file it came from."""

from __future__ import annotations

import json
from pathlib import Path

from repobus.bus import open_bus
from repobus.playbook import inbox
from repobus.views import overview


def test_both_backends_show_a_message_to_its_addressee_once(any_repo: Path) -> None:
    bus = open_bus(any_repo)
    bus.send("mgr", "manager-report", "reminder", "heartbeat needed", to="Manager")
    bus.send("mgr", "manager-report", "status", "to everyone")
    got = inbox.messages_for(bus, "manager")
    assert [e.record["summary"] for e in got] == ["heartbeat needed"]
    files = overview.tree(bus)
    thread = [json.loads(x) for x in files["messages/manager-report.jsonl"].splitlines()]
    box = [json.loads(x) for x in files["messages/agent-manager.jsonl"].splitlines()]
    assert [m["summary"] for m in thread] == ["heartbeat needed", "to everyone"]
    assert [m["summary"] for m in box] == ["heartbeat needed"]
    assert len(bus.store.tail("messages")) == 2  # the inbox copy is not a second message


def test_the_dir_backend_reads_the_original_inbox_and_task_less_lines(dir_repo: Path) -> None:
    msgs = dir_repo / "_bus" / "messages"
    msgs.mkdir(parents=True)
    reminder = (
        '{"ts": "2025-11-09T05:22:43Z", "from": "codex-tier2", "type": "reminder", '
        '"task_id": "manager-report", "summary": "Heartbeat needed", "to": "manager"}\n'
    )
    taskless = (
        '{"from": "codex-1", "meta": {"followups": []}, "summary": "Next steps", '
        '"ts": "2025-09-18T19:14:00Z", "type": "summary"}\n'
    )
    (msgs / "agent-manager.jsonl").write_text(reminder)
    (msgs / "manager-report.jsonl").write_text(taskless)
    (msgs / "QUEUE-001.jsonl").write_text(taskless.replace("Next steps", "in a thread"))
    bus = open_bus(dir_repo)
    assert [e.record["summary"] for e in inbox.messages_for(bus, "manager")] == ["Heartbeat needed"]
    files = overview.tree(bus)
    assert files["messages/agent-manager.jsonl"] == reminder  # byte for byte
    assert json.loads(files["messages/manager-report.jsonl"]) == json.loads(taskless)
    assert "in a thread" in files["messages/QUEUE-001.jsonl"]
    assert not any("None" in rel for rel in files)
    # a message repobus sends with `to` is read once: from its thread, not from the inbox
    bus.send("mgr", "manager-report", "reminder", "second", to="manager")
    got = [e.record["summary"] for e in inbox.messages_for(bus, "manager")]
    assert got == ["Heartbeat needed", "second"]
