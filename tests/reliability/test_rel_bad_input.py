"""Part 6 - bad input: hypothesis-generated command lines for every command of the table, and
generated contents for every stored file and format (records in commits under
refs/repobus/, `_bus/` files, the manifest, plans, the task registry, session receipts,
memory, the config, the index): no traceback, an exit code from the table, nothing written
when the command failed.

Each example runs in a fresh copy of a seeded template repository (git backend, dir backend,
or a clone with a remote next to it), so examples are independent and hypothesis can shrink.
Commands run in-process (`repobus.cli.main`), output captured.  Left out: `serve`, `mcp`
(servers that wait for clients) and `demo` (a fixed script with no input); `watch --follow`
is run without `--follow`.  Path-like values stay inside the example's directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from rel_fuzz import _seed, fuzz_command_lines, fuzz_stored_files
from rel_lab import EMPTY_TREE, cli, git, new_repo


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fuzz")
    assert subprocess.run(["git", "rev-parse"], cwd=base, capture_output=True).returncode != 0
    return base


def test_generated_command_lines(fuzz_base: Path) -> None:
    out = fuzz_command_lines(fuzz_base, examples=250)
    assert out.failures == 0, out.details[0]


def test_generated_stored_files(fuzz_base: Path) -> None:
    out = fuzz_stored_files(fuzz_base, examples=150)
    assert out.failures == 0, out.details[0]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a long variant: past the suite's 300 s default
def test_generated_inputs_long(fuzz_base: Path) -> None:
    a = fuzz_command_lines(fuzz_base, examples=3500, derandomize=False)
    b = fuzz_stored_files(fuzz_base, examples=1500, derandomize=False)
    assert a.failures + b.failures == 0, (a.details + b.details)[0]


# -- the bugs the generators found, fixed; one regression test each ----------------------------
@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    repo = new_repo(tmp_path / "r")
    _seed(repo, "git")
    return repo


def put_record(repo: Path, ref: str, text: str) -> None:
    """Append `text` to the chain of `ref` as a hand-made commit: a damaged or foreign
    writer's record."""
    tip = git(repo, "rev-parse", ref)
    git(repo, "update-ref", ref, git(repo, "commit-tree", "-p", tip, "-m", text, EMPTY_TREE))


def test_plan_new_without_title_is_a_usage_error(seeded: Path) -> None:
    code, _, err = cli("plan", "new", "--task", "T-1", cwd=seeded, agent="a1")
    assert code == 2, (code, err)


def test_memory_log_without_summary_is_a_usage_error(seeded: Path) -> None:
    code, _, err = cli("memory", "log", "--last-event", cwd=seeded, agent="a1")
    assert code == 2, (code, err)


def test_a_record_with_a_list_field_does_not_break_reads(seeded: Path) -> None:
    msg = (
        '{"from":"a1","seq":2,"summary":"s","task_id":["T-1"],"ts":"2026-01-01T00:00:00Z",'
        '"type":"note"}'
    )
    put_record(seeded, "refs/repobus/messages/a1", msg)
    for argv in (["status"], ["queue"], ["inbox", "--agent", "eng1"]):
        code, _, err = cli(*argv, cwd=seeded, agent="a1")
        assert code in (0, 1) and "internal error" not in err, (argv, code, err)


def test_a_non_object_line_in_dir_history_is_named(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    _seed(repo, "dir")
    with (repo / "_bus/history/claims/T-1.jsonl").open("a") as fh:
        fh.write("[]\n")
    code, _, err = cli("verify", cwd=repo)
    assert code == 1 and "T-1" in err, (code, err)


def test_a_boot_that_fails_writes_nothing(seeded: Path) -> None:
    put_record(seeded, "refs/repobus/claims/T-1", '{"agent_id":"a1","status":[],"seq":9}')
    before = git(seeded, "rev-parse", "refs/repobus/events/a1")
    code, _, err = cli(
        "boot", "--summary", "again", "--no-sync", "--allow-dirty", cwd=seeded, agent="a1"
    )
    assert code == 0 or git(seeded, "rev-parse", "refs/repobus/events/a1") == before, (code, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["log", "--event", "note", "--summary", "\udcff\udcfe"],
        ["claim", "--task", "T-5", "--notes", "\udcff"],
        ["log", "--event", "\udcff", "--summary", "x"],
    ],
)
def test_non_utf8_arguments_are_a_usage_error(seeded: Path, argv: list[str]) -> None:
    before = git(seeded, "for-each-ref")
    code, _, err = cli(*argv, cwd=seeded, agent="a1")
    assert code == 2 and "Traceback" not in err, (code, err)
    assert git(seeded, "for-each-ref") == before


def test_a_boot_that_fails_on_a_damaged_assignment_writes_nothing(seeded: Path) -> None:
    # found by the long stored-file run: the handshake was appended before the failing read
    bad = git(seeded, "commit-tree", "-m", "", EMPTY_TREE)
    git(seeded, "update-ref", "refs/repobus/assignments/T-3", bad)
    before = git(seeded, "for-each-ref", "refs/repobus/events/")
    code, _, err = cli(
        "boot", "--summary", "again", "--no-sync", "--allow-dirty", cwd=seeded, agent="a1"
    )
    assert code == 1 and "Invalid JSON in refs/repobus/assignments/T-3" in err, (code, err)
    assert git(seeded, "for-each-ref", "refs/repobus/events/") == before


def test_a_claim_with_a_damaged_seq_is_not_an_internal_error(seeded: Path) -> None:
    # found by the long stored-file run: `"seq": ":"` in a claim record crashed the next write
    rec = (
        '{"agent_id":"a1","branch":"agent/a1/t-1","claimed_at":"2026-01-01T00:00:00Z",'
        '"seq":":","status":"active","task_id":"T-1"}'
    )
    put_record(seeded, "refs/repobus/claims/T-1", rec)
    code, _, err = cli("claim", "--task", "T-1", cwd=seeded, agent="a1")
    assert code != 70 and "Traceback" not in err, (code, err)
    assert cli("verify", cwd=seeded)[0] == 1


def test_a_heartbeat_whose_alert_message_is_refused_writes_nothing(seeded: Path) -> None:
    # found by the long argv run: the receipt and the alert event were written, then the
    # message to an unclaimed task was refused
    before = git(seeded, "for-each-ref")
    reports = seeded / "_report"
    had = set(reports.rglob("*"))
    code, _, err = cli("heartbeat", "--message-task", "T-3", cwd=seeded)
    assert code == 4 and "task T-3 has no claim file" in err, (code, err)
    assert git(seeded, "for-each-ref") == before
    new = [p for p in reports.rglob("*") if p not in had and not p.is_dir()]
    assert [p.name for p in new] == ["errors.jsonl"], new  # the claim guard's own record
    assert cli("heartbeat", cwd=seeded)[0] in (0, 1)  # the default lane is not guarded


def test_a_repo_path_too_long_for_the_system_is_a_setup_error(seeded: Path) -> None:
    # found by the long argv run: ENAMETOOLONG escaped as an internal error
    code, _, err = cli("doctor", "--repo", "x" * 300, cwd=seeded)
    assert code == 5 and "File name too long" in err and "Traceback" not in err, (code, err)
    code, _, err = cli("status", "--repo", "no/such/dir", cwd=seeded)
    assert code == 5 and "no such directory" in err, (code, err)


def test_a_heartbeat_with_a_bad_task_id_writes_nothing(seeded: Path) -> None:
    # found by the long argv run: the receipt was written before the event's task id was read
    reports = seeded / "_report"
    had = set(reports.rglob("*"))
    code, _, err = cli("heartbeat", "--task", "x" * 200, cwd=seeded)
    assert code == 2 and "longer than 128 characters" in err, (code, err)
    assert set(reports.rglob("*")) == had


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--log-heartbeat", "--heartbeat-meta", "agent_id=a2"],
        ["report", "--consensus", "--log-heartbeat", "--heartbeat-meta", "event=x"],
    ],
)
def test_a_report_whose_heartbeat_is_refused_writes_nothing(seeded: Path, argv: list[str]) -> None:
    # the same order as the heartbeat's (found by reading after the long argv run): the
    # report file and the consensus message came before the heartbeat event was checked
    before = git(seeded, "for-each-ref")
    reports = seeded / "_report"
    had = set(reports.rglob("*"))
    code, _, err = cli(*argv, cwd=seeded, agent="a1")
    assert code == 2 and "Traceback" not in err, (code, err)
    assert set(reports.rglob("*")) == had
    assert git(seeded, "for-each-ref") == before


def test_a_directory_given_as_an_output_file_is_a_usage_error(seeded: Path) -> None:
    # found by the long argv run: `inbox --receipt _bus` ended in IsADirectoryError
    (seeded / "adir").mkdir()
    before = git(seeded, "for-each-ref")
    code, _, err = cli("inbox", "--receipt", "adir", cwd=seeded, agent="a1")
    assert code == 2 and "adir: Is a directory" in err and "Traceback" not in err, (code, err)
    assert git(seeded, "for-each-ref") == before


def test_an_export_where_nothing_can_be_written_names_the_path(seeded: Path) -> None:
    # found by the long argv run: ENOENT from mkdir under /proc was an internal error
    code, _, err = cli("export", "--to", "/proc/self/nonexistent", cwd=seeded)
    assert code == 74 and "/nonexistent: No such file" in err, (code, err)
    assert "Traceback" not in err


def test_a_null_line_in_a_dir_backend_thread_is_named(tmp_path: Path) -> None:
    # found by the long stored-file run: `null` in _bus/messages/T-1.jsonl crashed inbox
    repo = new_repo(tmp_path / "r")
    _seed(repo, "dir")
    thread = repo / "_bus" / "messages" / "T-1.jsonl"
    thread.write_bytes(thread.read_bytes() + b"null\n")
    code, _, err = cli("inbox", cwd=repo, agent="a1")
    assert code == 1 and "T-1.jsonl" in err and "not a JSON object" in err, (code, err)


def test_a_file_given_as_the_alert_folder_is_a_usage_error(seeded: Path) -> None:
    # found by the final long argv run: `heartbeat --alert-dir AGENT_MANIFEST.json` tried 999
    # receipt names under a file, then ended in a bare FileExistsError
    before = git(seeded, "for-each-ref")
    code, _, err = cli("heartbeat", "--alert-dir", "AGENT_MANIFEST.json", cwd=seeded)
    assert code == 2 and "AGENT_MANIFEST.json: File exists" in err, (code, err)
    assert git(seeded, "for-each-ref") == before


@pytest.mark.parametrize("token", ['":"', "true", "-3", "1.5"])
def test_a_claim_with_a_damaged_fencing_token_is_named(seeded: Path, token: str) -> None:
    # found by the last long stored-file run: `"fencing_token": ":"` crashed the next claim;
    # a token that cannot be read cannot be succeeded safely, so the claim is refused
    rec = (
        '{"agent_id":"a1","branch":"agent/a1/t-1","claimed_at":"2026-01-01T00:00:00Z",'
        f'"fencing_token":{token},"seq":9,"status":"active","task_id":"T-1"}}'
    )
    put_record(seeded, "refs/repobus/claims/T-1", rec)
    before = git(seeded, "for-each-ref")
    for agent in ("a1", "a2"):
        code, _, err = cli("claim", "--task", "T-1", cwd=seeded, agent=agent)
        assert code == 1 and "damaged fencing_token" in err, (code, err)
    assert git(seeded, "for-each-ref") == before


@pytest.mark.parametrize(
    "cursor", ['{"seen": ["x"]}', '{"seen": {"refs/repobus/messages/a1": "x"}}', '{"seen": 3}']
)
def test_a_damaged_inbox_cursor_shows_messages_as_new(seeded: Path, cursor: str) -> None:
    # found by reading after the last long run: the cursor's `seen` was trusted to hold ints
    path = seeded / ".git" / "repobus" / "inbox" / "eng1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cursor, encoding="utf-8")
    code, out, err = cli("inbox", "--mark-read", cwd=seeded, agent="eng1")
    assert code == 0 and "Traceback" not in err, (code, err)
    assert "new=" in out
