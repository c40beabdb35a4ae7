"""`repobus import` (issue 16, Deliver 11): a `_bus/` written as the original tools write it
(FORMATS.md), committed in a repository, adopted by `repobus init` and read by every command;
import again / `--dry-run` / from `export` output move no ref; a dir-backend bus carried by
`init --backend git --migrate`; an import pushed to a remote and seen by a fresh clone (which
does not import it a second time); a hand edit of the tracked copy named by `verify` and
refused by `import`.  Real git, the CLI in-process and as real processes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from conftest import git, run_console, unchanged

NOW = int(time.time())
RECENT = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 600))  # a lease still running
SEED = (
    '{"ts":"1970-01-01T00:00:00Z","agent_id":"template","event":"init","summary":"Seed event log"}'
)
CLAIMS = {
    "QUEUE-001": {  # active, no lease fields, no fencing token: as bus_claim wrote it
        "agent_id": "codex-1",
        "branch": "agent/codex-1/queue-001",
        "claimed_at": RECENT,
        "plan_id": "2025-09-17-plan",
        "status": "active",
        "task_id": "QUEUE-001",
    },
    "QUEUE-002": {  # a status repobus does not know: held
        "agent_id": "codex-2",
        "branch": "agent/codex-2/queue-002",
        "claimed_at": "2025-09-18T05:00:00Z",
        "notes": "started",
        "status": "in_progress",
        "task_id": "QUEUE-002",
    },
    "QUEUE-003": {
        "agent_id": "codex-1",
        "branch": "agent/codex-1/queue-003",
        "claimed_at": "2025-09-17T10:00:00Z",
        "released_at": "2025-09-17T12:00:00Z",
        "status": "done",
        "task_id": "QUEUE-003",
    },
}
ASSIGNMENTS = {
    "QUEUE-001": {
        "assigned_at": "2025-09-17T09:00:00Z",
        "branch": "agent/codex-1/queue-001",
        "engineer": "codex-1",
        "manager": "manager",
        "note": "go",
        "plan_id": "2025-09-17-plan",
        "task_id": "QUEUE-001",
    },
    "QUEUE-002": {
        "assigned_at": "2025-09-17T09:05:00Z",
        "branch": None,
        "engineer": "codex-2",
        "manager": "manager",
        "note": None,
        "plan_id": None,
        "task_id": "QUEUE-002",
    },
}
EVENTS = [
    {"agent_id": "codex-1", "branch_prefix": "agent/codex-1/", "event": "handshake"}
    | {"summary": "handshake", "ts": "2025-09-17T09:10:00Z"},
    {"agent_id": "codex-1", "event": "claim", "summary": "claimed QUEUE-003"}
    | {"task_id": "QUEUE-003", "ts": "2025-09-17T10:00:00Z"},
    {"agent_id": "codex-1", "event": "complete", "summary": "done", "task_id": "QUEUE-003"}
    | {"receipts": ["_report/agent/codex-1/x.json"], "reviewer": "codex-2"}
    | {"ts": "2025-09-17T12:00:00Z"},
    {"agent_id": "codex-2", "event": "status", "summary": "working", "task_id": "QUEUE-002"}
    | {"severity": "low", "ts": "2025-09-18T05:10:00Z"},
]
ASKED = {  # a message addressed to the manager: in its thread and in the manager's inbox
    "ts": "2025-09-17T09:20:00Z",
    "from": "codex-1",
    "type": "status",
    "task_id": "QUEUE-001",
    "summary": "question for the manager — é",
    "to": "manager",
}
THREAD = [
    {"ts": "2025-09-17T09:00:00Z", "from": "manager", "type": "assignment"}
    | {"task_id": "QUEUE-001", "summary": "Assigned to codex-1"}
    | {"meta": {"assignee": "codex-1", "plan": "2025-09-17-plan"}},
    ASKED,
]
INBOX_ONLY = {"ts": "2025-09-17T09:30:00Z", "from": "codex-2", "type": "note"} | {
    "task_id": "QUEUE-002",
    "summary": "only in the inbox",
    "to": "manager",
}
LANE = [  # the managers' lane: a hand-written line without task_id, and one with it
    {"ts": "2025-09-17T08:00:00Z", "from": "manager", "type": "directive", "summary": "no task"},
    {"ts": "2025-09-17T08:05:00Z", "from": "manager", "type": "status"}
    | {"task_id": "manager-report", "summary": "with its lane"},
]
IMPORTED = "imported 3 claims, 2 assignments, 5 events, 5 messages"
EVENTS_LOG = "_bus/events/events.jsonl"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    # bus_message's own form: keys in insertion order, not ASCII-escaped
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def write_original_bus(root: Path) -> None:
    """`_bus/` as the original tools write it (FORMATS.md §0-§12)."""
    bus = root / "_bus"
    for kind in ("claims", "assignments", "events", "messages"):
        (bus / kind).mkdir(parents=True, exist_ok=True)
    for kind, docs in (("claims", CLAIMS), ("assignments", ASSIGNMENTS)):
        for task, doc in docs.items():
            text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
            (bus / kind / f"{task}.json").write_text(text)
    lines = [SEED, *(json.dumps(e, sort_keys=True) for e in EVENTS)]  # the seed: by hand
    (bus / "events" / "events.jsonl").write_text("\n".join(lines) + "\n")
    _jsonl(bus / "messages" / "QUEUE-001.jsonl", THREAD)
    _jsonl(bus / "messages" / "agent-manager.jsonl", [ASKED, INBOX_ONLY])
    _jsonl(bus / "messages" / "manager-report.jsonl", LANE)


def _commit_bus(repo: Path) -> None:
    write_original_bus(repo)
    git(repo, "add", "-f", "_bus")  # -f: after `init`, .git/info/exclude names the mirror
    git(repo, "commit", "-q", "-m", "the team's bus")


def _refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "refs/repobus")


def _kept(orig: dict[str, Any], found: list[dict[str, Any]]) -> bool:
    """Whether one of `found` holds every field of `orig` with its value."""
    return any(all(r.get(k) == v for k, v in orig.items()) for r in found)


def _parsed(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        return [json.loads(path.read_bytes())]
    return [json.loads(ln) for ln in path.read_bytes().splitlines() if ln.strip()]


# -- 1. adopted by init, read by every command --------------------------------------------------
def _adopted(repo: Path) -> None:
    _commit_bus(repo)
    res = run_console("init", "--no-remote", "--agent", "manager", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "importing 15 of 15 records from _bus/" in res.stderr  # the progress line
    assert f"{IMPORTED} from _bus/; 4 file(s) anchored" in res.stdout


def test_init_adopts_the_original_bus_and_every_command_reads_it(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _adopted(repo)
    status = cli("status", "--json", cwd=repo).json
    held = {c["task_id"]: c for c in status["claims"]}
    assert set(held) == {"QUEUE-001", "QUEUE-002"}  # the done one is history
    assert held["QUEUE-002"]["lease_state"] == "held"
    assert held["QUEUE-002"]["status"] == "in_progress"
    assert held["QUEUE-001"]["claimed_at"] == RECENT and held["QUEUE-001"]["agent_id"] == "codex-1"
    queue = {t["task_id"]: t["state"] for t in cli("queue", "--json", cwd=repo).json["tasks"]}
    assert queue == {"QUEUE-001": "claimed", "QUEUE-002": "held", "QUEUE-003": "done"}

    listed = cli("watch", "--json", "--limit", "100", cwd=repo).out.splitlines()
    events = [json.loads(ln) for ln in listed]
    originals = [json.loads(SEED), *EVENTS]
    assert all(_kept(e, events) for e in originals)  # original ts, extra fields kept
    assert [e["ts"] for e in events if "imported" in e] == [e["ts"] for e in originals]

    inbox = cli("inbox", "--agent", "manager", "--json", cwd=repo).json
    assert [m["summary"] for m in inbox["messages"]] == [ASKED["summary"], "only in the inbox"]
    assert cli("verify", cwd=repo).code == 0
    check = cli("check", "--json", cwd=repo)
    # check applies the original CI rule: `in_progress` is no status it accepts; nothing else
    assert check.json["checked"]["claims"] == 3 and check.json["checked"]["events"] == 6
    assert check.json["errors"] == [
        "_bus/claims/QUEUE-002.json: status 'in_progress' not in "
        "['active', 'paused', 'released', 'done']"
    ]


def test_export_keeps_every_original_field(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _adopted(repo)
    out = tmp_path / "exported"
    assert cli("export", "--to", str(out), cwd=repo).code == 0
    for task, doc in CLAIMS.items():
        assert _kept(doc, _parsed(out / "claims" / f"{task}.json"))
    for task, doc in ASSIGNMENTS.items():
        assert _kept(doc, _parsed(out / "assignments" / f"{task}.json"))
    events = _parsed(out / "events" / "events.jsonl")
    assert all(_kept(e, events) for e in [json.loads(SEED), *EVENTS])
    thread = _parsed(out / "messages" / "QUEUE-001.jsonl")
    assert all(_kept(m, thread) for m in THREAD)
    inbox = _parsed(out / "messages" / "agent-manager.jsonl")
    assert _kept(ASKED, inbox) and _kept(INBOX_ONLY, inbox)
    lane = _parsed(out / "messages" / "manager-report.jsonl")
    assert all(_kept(m, lane) for m in LANE)  # the task-less line keeps its lane
    assert not (out / "messages" / "None.jsonl").exists()


def test_imported_claims_are_held_and_their_tokens_continue(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _adopted(repo)
    taken = cli("claim", "--task", "QUEUE-001", cwd=repo, agent="codex-2")
    assert taken.code == 3 and "already claimed by codex-1" in taken.err
    held = cli("claim", "--task", "QUEUE-002", cwd=repo, agent="codex-3")
    assert held.code == 3 and "status=in_progress (unknown status, held" in held.err
    assert cli("renew", "--task", "QUEUE-001", cwd=repo, agent="codex-1").code == 0
    again = cli("claim", "--task", "QUEUE-001", "--json", cwd=repo, agent="codex-1")
    # the imported claim had no token (an implicit 0): its holder's claim gets one above it
    assert again.code == 0 and again.json["fencing_token"] == 1
    assert again.json["claimed_at"] == RECENT
    fenced = cli("renew", "--task", "QUEUE-001", "--fence", "1", cwd=repo, agent="codex-1")
    assert fenced.code == 0, fenced.err
    assert "_bus/claims" not in again.json["_path"]  # the tracked file was not written


def test_no_message_names_a_tracked_file_it_did_not_write(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A tracked `_bus/` turns the mirror off: `send` names the ref its message is on, and
    the tracked thread file stays as committed."""
    _adopted(repo)
    thread = repo / "_bus" / "messages" / "QUEUE-001.jsonl"
    before = thread.read_bytes()
    sent = cli(
        "send", "--task", "QUEUE-001", "--type", "note", "--summary", "s", cwd=repo, agent="codex-1"
    )
    assert sent.code == 0, sent.err
    assert "_bus/messages" not in sent.out and "refs/repobus/messages/codex-1" in sent.out
    assert thread.read_bytes() == before


# -- 2., 3. idempotent; --dry-run writes nothing ---------------------------------------------
def test_import_again_imports_nothing_and_moves_no_ref(repo: Path) -> None:
    _adopted(repo)
    before = _refs(repo)
    res = run_console("import", "--json", cwd=repo)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["imported"] == {"claims": 0, "assignments": 0, "events": 0, "messages": 0}
    assert data["present"] == 15
    assert _refs(repo) == before


def test_dry_run_writes_nothing_and_says_what_it_would_import(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "_bus").mkdir()
    (repo / "_bus" / "README.md").write_text("the team's bus\n")
    git(repo, "add", "_bus")
    git(repo, "commit", "-q", "-m", "an empty bus")
    assert cli("init", "--no-remote", "--agent", "manager", cwd=repo).code == 0
    _commit_bus(repo)  # the records come after init: nothing imported yet
    with unchanged(repo):
        res = cli("import", "--dry-run", cwd=repo)
    assert res.code == 0
    assert "would " + IMPORTED.replace("imported", "import") + " from _bus/" in res.out
    assert _refs(repo) == ""
    assert f"{IMPORTED} from _bus/" in cli("import", cwd=repo).out


# -- the known gap: the same records in other files ----------------------------------------------
def test_export_output_imported_again_imports_nothing(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _adopted(repo)
    assert cli("log", "--event", "note", "--summary", "after", cwd=repo, agent="codex-1").code == 0
    sent = cli(
        "send",
        "--task",
        "QUEUE-001",
        "--type",
        "status",
        "--summary",
        "hi",
        "--to",
        "codex-1",
        cwd=repo,
        agent="manager",
    )
    assert sent.code == 0, sent.err
    out = tmp_path / "copy"
    assert cli("export", "--to", str(out), cwd=repo).code == 0
    before = _refs(repo)
    res = cli("import", "--from", str(out), "--json", cwd=repo)
    assert res.code == 0
    assert res.json["imported"] == {"claims": 0, "assignments": 0, "events": 0, "messages": 0}
    assert _refs(repo) == before
    assert cli("verify", cwd=repo).code == 0


def test_a_line_written_twice_is_kept_twice_once(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    log = repo / "_bus" / "events" / "events.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(SEED + "\n" + SEED + "\n")  # the same second, the same words: two records
    git(repo, "add", "_bus")
    git(repo, "commit", "-q", "-m", "bus")
    assert "imported 0 claims, 0 assignments, 2 events" in cli("init", "--no-remote", cwd=repo).out
    assert "imported 0 claims, 0 assignments, 0 events" in cli("import", cwd=repo).out


# -- 4. a dir-backend bus with history, migrated ------------------------------------------------
def _records(repo: Path) -> list[str]:
    """Every record of the clone's bus (each slot's every version), as its identity."""
    from repobus.bus import open_bus
    from repobus.store import legacy

    store = open_bus(repo).store
    out = [
        legacy.identity({k: v for k, v in s.record.items() if k != "_path"})
        for kind in ("claims", "assignments")
        for slot in store.list(kind)
        for s in store.history(kind, slot.key)
    ]
    out += [legacy.identity(e.record) for kind in ("events", "messages") for e in store.tail(kind)]
    return sorted(out)


def test_a_dir_backend_bus_is_migrated_whole(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    def run(*args: str, agent: str = "codex-1") -> Any:
        res = cli(*args, "--json", cwd=dir_repo, agent=agent)
        assert res.code == 0, (args, res.err)
        return res.json

    assert cli("init", "--backend", "dir", cwd=dir_repo).code == 0
    run("claim", "--task", "T-1")
    run("renew", "--task", "T-1", "--fence", "1")
    run("release", "--task", "T-1", "--status", "done", "--fence", "1")
    run("claim", "--task", "T-2")
    run("log", "--event", "status", "--summary", "going", "--task", "T-2", "--fence", "1")
    run("send", "--task", "T-2", "--type", "status", "--summary", "ping", "--to", "manager")
    run("assign", "--task", "T-3", "--engineer", "codex-2", agent="manager")
    before = _records(dir_repo)
    res = cli("init", "--backend", "git", "--no-remote", "--migrate", cwd=dir_repo)
    assert res.code == 0, res.err
    assert "verified the git backend: every hash chain is intact" in res.out
    assert git(dir_repo, "config", "repobus.backend") == "git"
    after = _records(dir_repo)
    # every record carried (the git bus adds only the import event)
    assert [r for r in before if r not in after] == []
    assert len(after) == len(before) + 1
    assert cli("verify", cwd=dir_repo).code == 0
    assert run("renew", "--task", "T-2", "--fence", "1")["fencing_token"] == 1
    assert cli("claim", "--task", "T-2", cwd=dir_repo, agent="codex-2").code == 3
    assert run("claim", "--task", "T-1", agent="codex-2")["fencing_token"] == 2  # continues


# -- 5. with a remote ------------------------------------------------------------------------------
def test_an_import_reaches_a_fresh_clone_through_the_remote(bare: Path, tmp_path: Path) -> None:
    url = f"file://{bare}"
    first, second = tmp_path / "first", tmp_path / "second"
    git(tmp_path, "clone", "-q", url, str(first))
    _commit_bus(first)
    git(first, "push", "-q", "origin", "main")
    res = run_console("init", "--remote", "origin", "--agent", "manager", cwd=first)
    assert res.returncode == 0 and IMPORTED in res.stdout, res.stderr
    assert "refs/repobus/claims/QUEUE-001" in git(first, "ls-remote", "origin")

    git(tmp_path, "clone", "-q", url, str(second))  # it has the tracked _bus/ too
    res = run_console("init", "--remote", "origin", "--agent", "codex-3", cwd=second)
    assert res.returncode == 0, res.stderr
    # the team's bus already holds that _bus/: found there, not imported a second time
    assert "imported 0 claims, 0 assignments, 0 events, 0 messages" in res.stdout
    assert run_console("sync", cwd=second).returncode == 0
    status = json.loads(run_console("status", "--json", cwd=second).stdout)
    assert {c["task_id"] for c in status["claims"]} == {"QUEUE-001", "QUEUE-002"}
    listed = run_console("watch", "--json", "--limit", "100", cwd=second).stdout.splitlines()
    events = [json.loads(ln) for ln in listed]
    assert all(_kept(e, events) for e in [json.loads(SEED), *EVENTS])
    assert sum(e.get("event") == "import" for e in events) == 1  # one import, the first's
    assert run_console("verify", cwd=second).returncode == 0
    assert git(first, "for-each-ref", "refs/repobus") == git(second, "for-each-ref", "refs/repobus")


# -- 6. a hand edit of the tracked copy after the import ------------------------------------------
def test_an_edited_imported_line_is_named_and_refused(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _adopted(repo)
    log = repo / EVENTS_LOG
    lines = log.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("claimed QUEUE-003", "claimed QUEUE-004")
    log.write_text("".join(lines))
    bad = run_console("verify", cwd=repo)
    assert bad.returncode == 1
    assert f"{EVENTS_LOG}: line 3: anchored line 3 of 5 was edited" in bad.stderr
    before = _refs(repo)
    refused = cli("import", cwd=repo)
    assert refused.code == 1 and f"{EVENTS_LOG}: line 3" in refused.err
    assert "git checkout -- _bus/events/events.jsonl" in refused.err
    assert _refs(repo) == before
