"""Every command through the CLI: the happy path, leases and fencing, and every error path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import GUARD_LOG, git, run_console, unchanged

from repobus.bus import open_bus, with_config


def test_init_twice_changes_nothing(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("init", "--agent", "codex-1", cwd=repo)
    assert first.code == 0 and "wrote AGENT_MANIFEST.json" in first.out
    manifest = json.loads((repo / "AGENT_MANIFEST.json").read_text())
    assert manifest["agent_id"] == "codex-1" and manifest["branch_prefix"] == "agent/codex-1/"
    with unchanged(repo):
        again = cli("init", "--agent", "codex-1", cwd=repo)
    assert again.code == 0 and "nothing changed" in again.out
    assert git(repo, "config", "repobus.backend") == "git"


def test_claim_prints_lease_and_token_and_loser_names_holder(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    won = cli(
        "claim", "--task", "QUEUE-001", "--plan", "_plans/p1.plan.json", cwd=repo, agent="codex-1"
    )
    assert won.code == 0
    assert "fencing token 1" in won.out and "lease until" in won.out
    assert "agent/codex-1/queue-001" in won.out
    claim = open_bus(repo).store.get("claims", "QUEUE-001")
    assert claim is not None and claim.record["plan_id"] == "p1"
    lost = cli("claim", "--task", "QUEUE-001", cwd=repo, agent="codex-2")
    assert lost.code == 3
    assert "already claimed by codex-1" in lost.err and "agent/codex-1/queue-001" in lost.err
    assert "lease until" in lost.err


def test_claim_json_and_errors_as_json(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("claim", "--task", "T-1", "--json", "--ttl", "15m", cwd=repo, agent="a1")
    data = res.json
    assert data["fencing_token"] == 1 and data["status"] == "active"  # type: ignore[index]
    err = cli("claim", "--task", "T-1", "--json", cwd=repo, agent="a2")
    assert err.code == 3
    assert err.json == {
        "code": 3,
        "kind": "conflict",
        "error": err.json["error"],  # type: ignore[index]
        "hint": err.json["hint"],
    }  # type: ignore[index]


def test_renew_extends_lease(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("claim", "--task", "T-1", "--ttl", "60s", cwd=repo, agent="a1")
    res = cli("renew", "--task", "T-1", "--ttl", "2h", "--json", cwd=repo, agent="a1")
    assert res.code == 0
    rec = res.json
    assert rec["op"] == "renew" and rec["fencing_token"] == 1  # type: ignore[index]
    hist = open_bus(repo).store.history("claims", "T-1")
    assert [h.record["op"] for h in hist] == ["claim", "renew"]


def test_expired_lease_is_taken_over_and_old_holder_fenced(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(repo, "config", "repobus.leaseGrace", "0")
    bus = open_bus(repo)
    bus.claim("a1", "T-1", ttl=1)
    later = with_config(bus)
    later.clock = lambda: bus.clock() + 5
    took = later.claim("a2", "T-1")
    assert took.record["op"] == "takeover" and took.record["previous_holder"] == "a1"
    assert took.record["fencing_token"] == 2
    with unchanged(repo, allow=GUARD_LOG):
        for args in (
            ("renew", "--task", "T-1"),
            ("release", "--task", "T-1"),
            ("log", "--event", "status", "--summary", "x", "--task", "T-1"),
        ):
            res = cli(*args, cwd=repo, agent="a1")
            assert res.code == 3, args
    assert "taken over by a2" in cli("renew", "--task", "T-1", cwd=repo, agent="a1").err


def test_pause_by_another_agent_then_takeover(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("claim", "--task", "T-1", cwd=repo, agent="a1")
    args = ("--force", "--reason", "a1 crashed")  # a1 renewed just now: only forced
    res = cli("pause", "--task", "T-1", "--notes", "a1 crashed", *args, cwd=repo, agent="a2")
    assert res.code == 0 and "paused by a2" in res.out
    rec = open_bus(repo).store.get("claims", "T-1").record  # type: ignore[union-attr]
    assert rec["status"] == "paused" and rec["by"] == "a2" and rec["agent_id"] == "a1"
    took = cli("claim", "--task", "T-1", "--json", cwd=repo, agent="a2").json
    assert took["previous_holder"] == "a1" and took["fencing_token"] == 2  # type: ignore[index]


def test_stale_fencing_token_is_refused(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    bus.release("a1", "T-1")
    assert bus.claim("a1", "T-1").record["fencing_token"] == 2
    with unchanged(repo):
        res = cli("renew", "--task", "T-1", "--fence", "1", "--json", cwd=repo, agent="a1")
        assert res.code == 3 and res.json["kind"] == "stale_token"  # type: ignore[index]
        assert (
            cli(
                "log",
                "--event",
                "status",
                "--summary",
                "s",
                "--task",
                "T-1",
                "--fence",
                "1",
                cwd=repo,
                agent="a1",
            ).code
            == 3
        )
    assert cli("renew", "--task", "T-1", "--fence", "2", cwd=repo, agent="a1").code == 0
    assert not (repo / "_report").exists()


def test_release_statuses_and_owner_rule(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("claim", "--task", "T-1", cwd=repo, agent="a1")
    res = cli("release", "--task", "T-1", cwd=repo, agent="a2")
    assert res.code == 3 and "owned by a1, not a2" in res.err
    res = cli(
        "release",
        "--task",
        "T-1",
        "--status",
        "done",
        "--notes",
        "merged",
        "--json",
        cwd=repo,
        agent="a1",
    )
    assert res.json["status"] == "done" and res.json["released_at"]  # type: ignore[index]
    again = cli("claim", "--task", "T-1", "--json", cwd=repo, agent="a2").json
    assert again["fencing_token"] == 2 and "released_at" not in again  # type: ignore[operator,index]
    assert again["notes"] == "merged"  # type: ignore[index]
    assert cli("release", "--task", "NOPE", cwd=repo, agent="a1").code == 4


def test_log_fields_extra_and_guard(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("claim", "--task", "QUEUE-010", cwd=repo, agent="codex-3")
    res = cli(
        "log",
        "--event",
        "status",
        "--summary",
        "docs",
        "--task",
        "QUEUE-010",
        "--plan",
        "p",
        "--branch",
        "agent/codex-3/queue-010",
        "--pr",
        "12",
        "--receipt",
        "_report/agent/codex-3/x.json",
        "--severity",
        "MEDIUM",
        "--extra",
        "reviewer=codex-1",
        "k2=v2",
        "--json",
        cwd=repo,
        agent="codex-3",
    )
    rec = res.json
    assert rec["task_id"] == "QUEUE-010" and rec["plan_id"] == "p" and rec["pr"] == "12"  # type: ignore[index]
    assert rec["receipts"] == ["_report/agent/codex-3/x.json"] and rec["severity"] == "medium"  # type: ignore[index]
    assert rec["reviewer"] == "codex-1" and rec["k2"] == "v2" and rec["fencing_token"] == 1  # type: ignore[index]
    with unchanged(repo):
        bad = cli(
            "log",
            "--event",
            "status",
            "--summary",
            "x",
            "--extra",
            "agent_id=evil",
            cwd=repo,
            agent="codex-3",
        )
    assert bad.code == 2 and "cannot overwrite core field 'agent_id'" in bad.err
    guarded = cli(
        "log",
        "--event",
        "status",
        "--summary",
        "x",
        "--task",
        "QUEUE-010",
        cwd=repo,
        agent="codex-4",
    )
    assert guarded.code == 3
    assert "claimed by codex-3" in guarded.err and "before logging status" in guarded.err
    errors = (repo / "_report/agent/codex-4/errors.jsonl").read_text().splitlines()
    assert json.loads(errors[0])["claim_owner"] == "codex-3"
    assert (
        cli(
            "log",
            "--event",
            "handshake",
            "--summary",
            "hi",
            "--task",
            "QUEUE-010",
            cwd=repo,
            agent="codex-4",
        ).code
        == 0
    )
    missing = cli(
        "log", "--event", "status", "--summary", "x", "--task", "NOCLAIM", cwd=repo, agent="codex-4"
    )
    assert missing.code == 4 and "NOCLAIM has no claim file" in missing.err


def test_done_claim_allows_anyone_to_log(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("eng", "T-1")
    bus.release("eng", "T-1", status="done")
    assert (
        cli(
            "log",
            "--event",
            "status",
            "--summary",
            "post",
            "--task",
            "T-1",
            cwd=repo,
            agent="manager",
        ).code
        == 0
    )


def test_bad_severity_writes_nothing(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        res = cli(
            "log",
            "--event",
            "status",
            "--summary",
            "x",
            "--severity",
            "critical",
            cwd=repo,
            agent="a1",
        )
    assert res.code == 2 and "severity must be one of: high, low, medium" in res.err


def test_status_shape_filters_and_text(any_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(any_repo)
    bus.claim("a1", "T-1")
    bus.claim("a2", "T-2")
    bus.release("a2", "T-2")
    for i in range(3):
        bus.log("a1", "status", f"s{i}")
    bus.log("a2", "note", "hello")
    data = cli("status", "--json", "--limit", "2", cwd=any_repo).json
    assert set(data) == {"claims", "claims_left_out", "events", "filters", "next_cursor"}  # type: ignore[arg-type]
    assert [e["_index"] for e in data["events"]] == [2, 1]  # type: ignore[index]
    assert data["claims"][0]["_path"] == "_bus/claims/T-1.json"  # type: ignore[index]
    assert data["claims"][0]["lease_state"] == "active"  # type: ignore[index]
    flt = dict(data["filters"])  # type: ignore[call-overload]
    assert flt.pop("finished_since")  # the default window: the last 24 h
    assert flt == {
        "agents": [],
        "active_only": False,
        "all": False,
        "cursor": None,
        "limit": 2,
        "page_size": 200,
        "since": None,
    }
    only = cli("status", "--json", "--agent", "a1", "--active-only", cwd=any_repo).json
    assert [c["task_id"] for c in only["claims"]] == ["T-1"]  # type: ignore[index]
    assert {e["agent_id"] for e in only["events"]} == {"a1"}  # type: ignore[index]
    text = cli("status", cwd=any_repo).out
    assert "Active claims:" in text and "T-1 [active] by a1" in text and ":: note ::" in text
    bad = cli("status", "--since", "yesterday", cwd=any_repo)
    assert bad.code == 2 and "--since must be an ISO time" in bad.err


def test_status_empty_bus(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("status", cwd=repo).out
    assert "No claims recorded." in out and "No events recorded." in out


def test_watch_filters_and_since(any_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(any_repo)
    bus.log("a1", "status", "one")
    bus.log("a2", "note", "two", receipts=["r.json"])
    res = cli("watch", "--event", "note", cwd=any_repo)
    assert res.out.strip().endswith(":: a2 :: note :: task=- :: two :: receipts=r.json")
    assert "one" not in res.out
    assert "one" in cli("watch", "--agent", "a1", cwd=any_repo).out
    assert cli("watch", "--since", "2999-01-01T00:00:00Z", cwd=any_repo).out == ""


def test_watch_follow_sees_other_worktree(repo: Path, make_worktrees) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    (wt,) = make_worktrees(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "repobus", "watch", "--follow", "--limit", "0"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        deadline = time.monotonic() + 60  # bounded; generous for a loaded CI machine
        seen = ""
        n = 0
        while "from-the-worktree" not in seen and time.monotonic() < deadline:
            run_console(
                "log",
                "--event",
                "status",
                "--summary",
                f"from-the-worktree {n}",
                cwd=wt,
                agent="w1",
            )
            n += 1
            import select

            ready, _, _ = select.select([proc.stdout], [], [], 2)
            if ready:
                seen += proc.stdout.readline()  # type: ignore[union-attr]
        assert "from-the-worktree" in seen
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]


def test_check_passes_then_reports_duplicates_and_bad_files(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(dir_repo)
    bus.claim("a1", "T-1")
    bus.log("a1", "status", "ok")
    ok = cli("check", cwd=dir_repo, env={"GITHUB_ACTIONS": "true"})
    assert ok.code == 0 and ok.out.startswith("::notice::agent bus artifacts validated")
    dup = json.loads((dir_repo / "_bus/claims/T-1.json").read_text())
    (dir_repo / "_bus/claims/T-1-copy.json").write_text(json.dumps(dup | {"agent_id": "a2"}))
    res = cli("check", cwd=dir_repo, env={"GITHUB_ACTIONS": "true"})
    assert res.code == 1
    assert "::error::duplicate claim: task T-1 has 2 active claims (a1, a2)" in res.out
    assert "does not match file name" in res.out


def test_check_directive_pointer(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(dir_repo)
    bus.send("codex-1", "BUS-COORD-0005", "directive", "do the thing")
    res = cli("check", cwd=dir_repo)
    assert res.code == 1 and "missing pointer for directive BUS-COORD-0005" in res.out
    bus.send(
        "codex-1",
        "manager-report",
        "status",
        "Directive BUS-COORD-0005 posted",
        meta={"directive": "BUS-COORD-0005"},
    )
    assert cli("check", cwd=dir_repo).code == 0


def test_check_on_git_backend_and_on_a_dir(repo: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    bus.log("a1", "status", "ok")
    assert cli("check", cwd=repo).code == 0
    out = tmp_path / "exported"
    res = cli("export", "--to", str(out), cwd=repo)
    assert res.code == 0 and "2 written" in res.out
    assert json.loads((out / "claims/T-1.json").read_text())["agent_id"] == "a1"
    assert cli("export", "--to", str(out), cwd=repo).out.count("2 unchanged") == 1
    assert cli("check", "--dir", str(out), cwd=repo).code == 0
    (out / "events/events.jsonl").write_text('{"ts": "bad"}\n')
    bad = cli("check", "--dir", str(out), cwd=repo)
    assert bad.code == 1 and "missing keys" in bad.out


def test_export_default_is_the_worktree_bus(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    bus.send("mgr", "T-1", "assignment", "Assigned to a1", to="a1")
    assert cli("export", cwd=repo).code == 0
    assert (repo / "_bus/claims/T-1.json").exists()
    thread = (repo / "_bus/messages/T-1.jsonl").read_text().splitlines()
    assert json.loads(thread[0])["from"] == "mgr"
    assert (repo / "_bus/messages/agent-a1.jsonl").exists()


@pytest.mark.parametrize("name", ["manifest", "claim", "assignment", "event", "message"])
def test_schema(repo: Path, cli, name: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("schema", name, cwd=repo)
    assert res.code == 0 and json.loads(res.out)["type"] == "object"


def test_schema_all_and_unknown(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert set(json.loads(cli("schema", cwd=repo).out)) == {
        "manifest",
        "claim",
        "assignment",
        "event",
        "message",
    }
    res = cli("schema", "nope", cwd=repo)
    assert res.code == 2 and "no format named 'nope'" in res.err


def test_help_for_every_command_has_examples(repo: Path) -> None:
    from repobus.cli.commands import COMMANDS

    for cmd in COMMANDS:
        res = run_console(*cmd.name.split(), "--help", cwd=repo)
        assert res.returncode == 0, cmd.name
        assert "Examples:" in res.stdout and cmd.examples[0] in res.stdout


def test_version_and_usage_errors(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from repobus import __version__

    res = run_console("--version", cwd=repo)
    assert res.stdout.strip() == f"repobus {__version__}"
    missing = cli("claim", cwd=repo, agent="a1")
    assert missing.code == 2
    unknown = cli("claim", "--task", "T", "--bogus", cwd=repo, agent="a1")
    assert unknown.code == 2
    assert cli("nonsense", cwd=repo).code == 2


def test_demo_runs(repo: Path) -> None:
    res = run_console("demo", cwd=repo, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verify: every hash chain is intact" in res.stdout
    assert "Took over QUEUE-001" in res.stdout


def test_operator_release_names_the_person(repo: Path) -> None:
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    from repobus.errors import ConflictError

    with pytest.raises(ConflictError):
        bus.release("alice", "T-1")
    rec = bus.release("alice", "T-1", status="released", notes="stuck", operator=True).record
    assert rec["status"] == "released" and rec["agent_id"] == "a1" and rec["by"] == "alice"


def test_watch_follow_ctrl_c_exits_0(repo: Path) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "repobus", "watch", "--follow"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_console("log", "--event", "note", "--summary", "ping", cwd=repo, agent="a1")
        import select

        ready, _, _ = select.select([proc.stdout], [], [], 20)  # it is following now
        assert ready and "ping" in proc.stdout.readline()  # type: ignore[union-attr]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_missing_required_option_and_non_utf8_argument_are_usage_errors(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        res = cli("log", "--summary", "no event given", cwd=repo, agent="a1")
        assert res.code == 2 and "Missing option '--event'" in res.err
        bad = cli("log", "--event", "note", "--summary", "caf\udce9", cwd=repo, agent="a1")
        assert bad.code == 2 and "not valid UTF-8" in bad.err


def test_a_closed_stdout_is_not_a_crash(repo: Path) -> None:
    """`repobus ... >&-`: nothing to write to is not an internal error; errors still reach a
    stderr that is open, and the exit code is the command's."""
    import os
    import shlex
    import subprocess
    import sys

    def closed(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "repobus", *args))
        return subprocess.run(
            ["bash", "-c", f"exec {cmd} >&-"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "REPOBUS_AGENT": "a1"},
        )

    assert closed("claim", "--task", "T-1").returncode == 0
    for args in (("status", "--json"), ("status",), ("status", "--json", "--agent", "a1")):
        res = closed(*args)
        assert res.returncode == 0 and "Traceback" not in res.stderr, (args, res.stderr)
    res = closed("status", "--agent", "bad id")
    assert res.returncode == 2 and "unsafe agent id" in res.stderr, res.stderr
