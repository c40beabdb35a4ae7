"""The playbook's step 8 by hand: JSONL lines an agent appends to the `_bus/` mirror's log
files reach the bus on the next repobus command in that worktree, as that worktree's agent,
or are refused naming the file and the line (and stay); `check` reports every line waiting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Run, unchanged

from repobus.bus import open_bus
from repobus.views import mirror

THREAD = "_bus/messages/QUEUE-001.jsonl"
EVENTS = "_bus/events/events.jsonl"


@pytest.fixture
def inited(repo: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "a1", cwd=repo).code == 0
    assert cli("claim", "--task", "QUEUE-001", cwd=repo).code == 0
    return repo


def append(path: Path, *lines: str | dict[str, object]) -> None:
    """What an agent does in step 8: `echo '{...}' >> _bus/messages/T.jsonl`."""
    with open(path, "a", encoding="utf-8") as fh:
        for line in lines:
            fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_a_message_appended_to_a_thread_goes_on_the_bus(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    thread = inited / THREAD
    append(thread, {"type": "status", "summary": "halfway", "to": "mgr"})
    assert cli("status", cwd=inited).code == 0  # any command takes it in
    got = [m for m in open_bus(inited).messages(task="QUEUE-001") if m["summary"] == "halfway"]
    assert len(got) == 1
    msg = got[0]
    assert msg["from"] == "a1" and msg["task_id"] == "QUEUE-001" and msg["to"] == "mgr"
    assert msg["meta"]["via"] == THREAD
    shown = rows(thread)[-1]  # the file now shows the real record, once
    assert shown["summary"] == "halfway" and isinstance(shown["seq"], int)
    assert [r["summary"] for r in rows(thread)].count("halfway") == 1
    assert rows(inited / "_bus/messages/agent-mgr.jsonl")[-1]["summary"] == "halfway"
    assert cli("check", cwd=inited).code == 0


def test_events_and_an_inbox_line_are_taken_in(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    append(
        inited / EVENTS,
        {"event": "proposal", "task_id": "QUEUE-001", "summary": "plan v1", "reviewer": "b2"},
    )
    append(
        inited / "_bus/messages/agent-b2.jsonl",
        {"type": "info", "task_id": "QUEUE-001", "summary": "ping"},
    )
    assert cli("inbox", "--agent", "b2", cwd=inited).code == 0
    bus = open_bus(inited)
    (ev,) = [e for e in bus.store.tail("events") if e.record["event"] == "proposal"]
    assert ev.record["agent_id"] == "a1" and ev.record["reviewer"] == "b2"
    assert ev.record["via"] == EVENTS
    (msg,) = [m for m in bus.messages(to="b2") if m["summary"] == "ping"]
    assert msg["from"] == "a1" and msg["to"] == "b2"
    assert rows(inited / EVENTS)[-1]["seq"] == ev.record["seq"]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "line 2: not JSON"),
        ('["a list"]', "line 2: not a JSON object"),
        ({"type": "status"}, "line 2: missing field 'summary'"),
        ({"type": "info", "summary": "s", "from": "b2"}, "line 2: from 'b2' is not this worktree"),
        ({"type": "info", "summary": "s", "task_id": "OTHER-1"}, "is not this thread's"),
        ({"type": "info", "summary": "s", "seq": 9}, "field 'seq' is the bus's to assign"),
        ({"type": "info", "summary": "s", "colour": "red"}, "'colour' is not a message field"),
    ],
)
def test_a_line_that_cannot_be_taken_in_is_refused_and_stays(  # type: ignore[no-untyped-def]
    inited: Path, cli, line: str | dict[str, object], why: str
) -> None:
    thread = inited / THREAD
    good = {"type": "info", "summary": "fine on its own"}
    before = thread.read_bytes() if thread.exists() else b""
    append(thread, good, line)  # line 1 is fine: nothing is written while line 2 is refused
    waiting = thread.read_bytes()
    with unchanged(inited, allow=("_bus",)):
        res = cli("status", cwd=inited)
    assert res.code == 2, res
    assert f"error: {THREAD} " in res.err and why in res.err
    assert "hint: fix or delete the line" in res.err
    assert thread.read_bytes() == waiting and waiting.startswith(before)
    checked = cli("check", cwd=inited)
    assert checked.code == 1 and why in checked.out
    assert f"{THREAD} line 1: appended by hand and not on the bus yet" in checked.out
    lines = thread.read_text().splitlines(keepends=True)
    thread.write_text("".join(lines[:-1]))  # the agent deletes the bad line
    assert cli("status", cwd=inited).code == 0
    assert rows(thread)[-1]["summary"] == "fine on its own"
    assert cli("check", cwd=inited).code == 0


def test_an_unknown_file_is_refused(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    append(inited / "_bus/events/mine.jsonl", {"event": "note", "summary": "x"})
    res = cli("status", cwd=inited)
    assert res.code == 2 and "_bus/events/mine.jsonl: not a file of the bus" in res.err
    assert "not a file of the bus" in cli("check", cwd=inited).out
    (inited / "_bus/events/mine.jsonl").unlink()
    assert cli("status", cwd=inited).code == 0


def test_a_line_is_written_through_the_fences(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    events = inited / EVENTS
    append(events, {"event": "status", "task_id": "QUEUE-001", "summary": "s", "fencing_token": 7})
    res = cli("status", cwd=inited)
    assert res.code == 3 and f"{EVENTS} line" in res.err and "the line stays" in res.err
    assert rows(events)[-1]["fencing_token"] == 7  # still the agent's line, last
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:-1]))
    fence = json.loads((inited / "_bus/claims/QUEUE-001.json").read_text())["fencing_token"]
    append(
        events, {"event": "status", "task_id": "QUEUE-001", "summary": "s", "fencing_token": fence}
    )
    assert cli("status", cwd=inited).code == 0
    assert rows(events)[-1]["fencing_token"] == fence and "seq" in rows(events)[-1]


def test_a_guarded_line_on_someone_elses_task_is_refused(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    thread = inited / THREAD
    append(thread, {"type": "status", "summary": "not mine", "from": "b2"})
    env = {"REPOBUS_AGENT": "b2"}  # b2 works in this worktree now; a1 holds the claim
    res = cli("status", cwd=inited, env=env)
    assert res.code == 3 and f"{THREAD} line" in res.err and "claimed by a1" in res.err


def test_a_thread_started_by_hand_and_a_partial_last_line(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    new = inited / "_bus/messages/QUEUE-002.jsonl"
    new.write_text(json.dumps({"type": "info", "summary": "new thread"}))  # no newline
    assert cli("status", cwd=inited).code == 0
    (rec,) = rows(new)
    assert rec["task_id"] == "QUEUE-002" and rec["from"] == "a1" and "seq" in rec


def test_a_refresh_keeps_waiting_lines_last(inited: Path, cli, make_worktrees) -> None:  # type: ignore[no-untyped-def]
    """A refresh that is no command of this worktree (an MCP server, the dashboard, a write
    arriving from another worktree) writes the bus's lines before the waiting ones."""
    (wt,) = make_worktrees(1)
    append(inited / EVENTS, {"event": "note", "summary": "by hand"})
    assert cli("log", "--event", "note", "--summary", "elsewhere", cwd=wt, agent="b2").code == 0
    mirror.refresh(open_bus(inited))
    assert [r["summary"] for r in rows(inited / EVENTS)][-2:] == ["elsewhere", "by hand"]
    assert "seq" not in rows(inited / EVENTS)[-1]
    assert cli("status", cwd=inited).code == 0
    summaries = [r["summary"] for r in rows(inited / EVENTS)]
    assert summaries.count("by hand") == 1 and all("seq" in r for r in rows(inited / EVENTS))
    assert [e.record["summary"] for e in open_bus(inited).store.tail("events")].count(
        "by hand"
    ) == 1


def test_a_rebuild_keeps_waiting_lines_last(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`repobus mirror --rebuild` writes the files afresh from the bus and keeps the lines
    appended by hand after them; the next command takes them in, once."""
    append(inited / EVENTS, {"event": "note", "summary": "by hand"})
    append(inited / THREAD, {"type": "status", "summary": "thread line", "to": "mgr"})
    assert cli("mirror", "--rebuild", cwd=inited).code == 0
    assert rows(inited / EVENTS)[-1] == {"event": "note", "summary": "by hand"}
    assert rows(inited / THREAD)[-1]["summary"] == "thread line"
    assert cli("status", cwd=inited).code == 0
    bus = open_bus(inited)
    assert [e.record["summary"] for e in bus.store.tail("events")].count("by hand") == 1
    assert [m["summary"] for m in bus.messages(task="QUEUE-001")].count("thread line") == 1
    assert [r["summary"] for r in rows(inited / EVENTS)].count("by hand") == 1
    assert all("seq" in r for r in rows(inited / EVENTS))


def test_the_session_guard_holds_for_lines_by_hand(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(["git", "config", "repobus.sessionGuard", "true"], cwd=inited, check=True)
    append(inited / EVENTS, {"event": "note", "summary": "no session"})
    res = cli("status", cwd=inited)
    assert res.code == 5 and f"{EVENTS} line" in res.err and "session" in res.err
    assert cli("boot", "--agent", "a1", "--no-sync", cwd=inited).code == 0  # boot takes it in
    assert [r["summary"] for r in rows(inited / EVENTS)].count("no session") == 1


def test_the_lean_status_path_and_the_console_script(inited: Path) -> None:
    """`status --json` (the lean path agents poll) sees a waiting line and lets the full
    command take it in."""
    append(inited / EVENTS, {"event": "note", "summary": "lean"})
    done = subprocess.run(
        [sys.executable, "-m", "repobus", "status", "--json"],
        cwd=inited,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert any(e["summary"] == "lean" for e in json.loads(done.stdout)["events"])


def test_the_dir_backend_check_names_a_bad_line(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """With the dir backend the files are the bus: `check` judges a hand-appended line."""
    assert cli("claim", "--task", "QUEUE-001", cwd=dir_repo, agent="a1").code == 0
    assert (
        cli(
            "send",
            "--task",
            "QUEUE-001",
            "--type",
            "info",
            "--summary",
            "s",
            cwd=dir_repo,
            agent="a1",
        ).code
        == 0
    )
    thread = dir_repo / THREAD
    append(
        thread, {"ts": "2025-01-01T00:00:00Z", "from": "a1", "type": "info", "task_id": "QUEUE-001"}
    )
    res: Run = cli("check", cwd=dir_repo)
    assert res.code == 1 and f"{THREAD} line 2: summary missing or empty" in res.out
