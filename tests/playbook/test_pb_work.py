"""Plans, receipts, branches, the pre-push hook, draft PRs, memory and `check --pr`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import GUARD_LOG, unchanged
from pbhelpers import env, git, jsonl

from repobus.bus import open_bus


def test_plan_new_check_and_step(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        "plan",
        "new",
        "--task",
        "QUEUE-001",
        "--title",
        "Anchor guard",
        "--id",
        "2025-09-17-anchors",
        "--step",
        "tests",
        "--step",
        "guard",
        "--justification",
        "appends were unchecked",
        cwd=repo,
        agent="e1",
    )
    assert res.code == 0, res.err
    doc = json.loads((repo / "_plans/2025-09-17-anchors.plan.json").read_text())
    assert doc["links"] == [{"type": "bus", "ref": "_bus/claims/QUEUE-001.json"}]
    assert [s["id"] for s in doc["steps"]] == ["S1", "S2"] and doc["actor"] == "e1"
    with unchanged(repo):
        assert (
            cli(
                "plan",
                "new",
                "--task",
                "QUEUE-001",
                "--title",
                "x",
                "--id",
                "2025-09-17-anchors",
                cwd=repo,
                agent="e1",
            ).code
            == 3
        )
    bad = cli("plan", "check", cwd=repo)
    assert bad.code == 1 and "bus link _bus/claims/QUEUE-001.json does not resolve" in bad.out
    assert cli("claim", "--task", "QUEUE-001", cwd=repo, agent="e1").code == 0
    assert cli("plan", "check", cwd=repo).code == 0
    with unchanged(repo):
        assert (
            cli("plan", "step", "2025-09-17-anchors", "S1", "--receipt", "nope.txt", cwd=repo).code
            == 4
        )
    (repo / "out.txt").write_text("ok\n")
    assert (
        cli("plan", "step", "2025-09-17-anchors", "S1", "--receipt", "out.txt", cwd=repo).code == 0
    )
    assert cli("plan", "check", "2025-09-17-anchors", cwd=repo).code == 0
    (repo / "out.txt").unlink()
    res = cli("plan", "check", "--json", cwd=repo)
    assert res.code == 1 and any("receipt out.txt does not exist" in e for e in res.json["errors"])


def test_receipt_add_stores_with_sha256(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "pytest.txt").write_text("5 passed\n")
    res = cli(
        "receipt",
        "add",
        "pytest.txt",
        "--kind",
        "agent",
        "--task",
        "QUEUE-001",
        "--json",
        cwd=repo,
        agent="e1",
    )
    assert res.code == 0, res.err
    assert res.json["path"] == "_report/agent/e1/QUEUE-001/pytest.txt"
    assert res.json["sha256"].startswith("sha256:")
    index = jsonl(repo / "_report/agent/e1/receipts.jsonl")
    assert index[0]["sha256"] == res.json["sha256"]
    assert cli("receipt", "add", "pytest.txt", "--kind", "runner", cwd=repo, agent="e1").code == 0
    assert (repo / "_report/runner/pytest.txt").exists()
    (repo / "pytest.txt").write_text("4 passed\n")
    with unchanged(repo):
        assert (
            cli("receipt", "add", "pytest.txt", "--task", "QUEUE-001", cwd=repo, agent="e1").code
            == 3
        )
        assert cli("receipt", "add", "missing.txt", cwd=repo, agent="e1").code == 4
        assert (
            cli("receipt", "add", "pytest.txt", "--kind", "other", cwd=repo, agent="e1").code == 2
        )


def test_branch_and_worktree(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "e1", cwd=repo).code == 0
    assert cli("branch", "queue-001", cwd=repo).code == 0
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "agent/e1/queue-001"
    assert cli("branch", "Queue-001", cwd=repo).out.startswith("Switched to agent/e1/queue-001")
    res = cli("branch", "docs", "--worktree", "--json", cwd=repo)
    assert res.code == 0, res.err
    wt = Path(res.json["worktree"])
    assert git(wt, "symbolic-ref", "--short", "HEAD") == "agent/e1/docs"
    assert json.loads((wt / "AGENT_MANIFEST.json").read_text())["agent_id"] == "e1"
    with unchanged(repo):
        assert cli("branch", "../x", cwd=repo).code == 2
        assert cli("branch", "docs2", "--path", str(wt), cwd=repo).code == 3


def test_pre_push_hook_keeps_agents_on_their_branches(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    res = cli("init", "--hooks", "--no-remote", "--agent", "e1", cwd=repo)
    assert res.code == 0 and "installed the pre-push hook" in res.out
    assert cli("init", "--hooks", "--no-remote", cwd=repo).out.count("pre-push") == 0

    def push(*refs: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "push", "origin", *refs],
            cwd=repo,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    git(repo, "branch", "agent/e1/queue-001")
    git(repo, "branch", "agent/e2/x")
    ok = push("agent/e1/queue-001")
    assert ok.returncode == 0, ok.stderr
    assert "e1 holds no active claim for branch agent/e1/queue-001" in ok.stderr
    refused = push("agent/e2/x")
    assert refused.returncode != 0
    assert "push refused: agent/e2/x outside agent/e1/" in refused.stderr
    assert push("main").returncode != 0
    git(repo, "config", "repobus.pushAllow", "main release/*")
    assert push("main").returncode == 0
    assert cli("claim", "--task", "QUEUE-001", cwd=repo).code == 0
    git(repo, "commit", "-q", "--allow-empty", "-m", "more")
    git(repo, "branch", "-f", "agent/e1/queue-001", "HEAD")
    quiet = push("agent/e1/queue-001")
    assert quiet.returncode == 0 and "holds no active claim" not in quiet.stderr


def test_init_hooks_never_overwrites_a_foreign_hook(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    hook = repo / ".git/hooks/pre-push"
    hook.write_text("#!/bin/sh\nexit 0\n")
    res = cli("init", "--hooks", cwd=repo, agent="e1")
    assert res.code == 3 and "not written by repobus" in res.err
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


@pytest.fixture
def claimed(repo: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "e1", "--no-remote", cwd=repo).code == 0
    assert (
        cli(
            "plan",
            "new",
            "--task",
            "QUEUE-001",
            "--title",
            "Anchor guard",
            "--id",
            "p1",
            "--justification",
            "appends were unchecked",
            cwd=repo,
        ).code
        == 0
    )
    assert cli("claim", "--task", "QUEUE-001", "--plan", "_plans/p1.plan.json", cwd=repo).code == 0
    assert cli("branch", "queue-001", cwd=repo).code == 0
    (repo / "t.txt").write_text("green\n")
    assert cli("receipt", "add", "t.txt", "--task", "QUEUE-001", cwd=repo).code == 0
    assert (
        cli(
            "log",
            "--event",
            "proposal",
            "--summary",
            "ready",
            "--task",
            "QUEUE-001",
            "--receipt",
            "_report/agent/e1/QUEUE-001/t.txt",
            cwd=repo,
        ).code
        == 0
    )
    return repo


def test_pr_with_gh_runs_it_and_logs_pr_opened(claimed: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    gh = bindir / "gh"
    gh.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$GH_LOG"\necho "https://github.com/acme/repo/pull/42"\n'
    )
    gh.chmod(0o755)
    log = tmp_path / "gh-argv.txt"
    res = cli(
        "pr",
        "--label",
        "codex::tests",
        "--json",
        cwd=claimed,
        env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "GH_LOG": str(log)},
    )
    assert res.code == 0, res.err
    argv = log.read_text().splitlines()
    assert argv[:3] == ["pr", "create", "--draft"]
    assert argv[argv.index("--title") + 1] == "[QUEUE-001] Anchor guard"
    assert argv[argv.index("--label") + 1] == "codex::tests"
    assert argv[argv.index("--head") + 1] == "agent/e1/queue-001"
    body = (claimed / argv[argv.index("--body-file") + 1]).read_text()
    for part in (
        "## Plan",
        "appends were unchecked",
        "_report/agent/e1/QUEUE-001/t.txt` (sha256:",
        '"fencing_token": 1',
        "proposal",
    ):
        assert part in body
    ev = open_bus(claimed).store.tail("events")[-1].record
    assert ev["event"] == "pr_opened" and ev["pr"] == "42" and ev["task_id"] == "QUEUE-001"


def test_pr_without_gh_writes_the_body_and_says_how(claimed: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bindir = tmp_path / "nogh"
    bindir.mkdir()
    (bindir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    before = len(open_bus(claimed).store.tail("events"))
    res = cli("pr", "--task", "QUEUE-001", cwd=claimed, env={"PATH": str(bindir)})
    assert res.code == 0, res.err
    assert "gh (the GitHub CLI) is not on PATH" in res.out
    assert "git push -u origin agent/e1/queue-001" in res.out
    assert (claimed / "_report/agent/e1/pr/QUEUE-001-pr-body.md").exists()
    assert len(open_bus(claimed).store.tail("events")) == before
    with unchanged(claimed, allow=GUARD_LOG):
        assert cli("pr", "--task", "QUEUE-001", cwd=claimed, agent="e2").code == 3
        assert cli("pr", "--label", "a,b", cwd=claimed).code == 2


def test_pr_gh_failure_exits_6(claimed: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gh").write_text("#!/bin/sh\necho 'HTTP 401: Bad credentials' >&2\nexit 1\n")
    (bindir / "gh").chmod(0o755)
    res = cli("pr", cwd=claimed, env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})
    assert res.code == 6 and "Bad credentials" in res.err


def test_memory_log_resolves_refs_and_check_rechecks_them(claimed: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        "memory",
        "log",
        "--summary",
        "approved QUEUE-001",
        "--last-event",
        "--task",
        "QUEUE-001",
        "--ref",
        "_bus/claims/QUEUE-001.json",
        cwd=claimed,
        agent="e1",
    )
    assert res.code == 0, res.err
    entry = jsonl(claimed / "memory/log.jsonl")[0]
    assert entry["refs"][1].startswith("_bus/events/events.jsonl#sha256:")
    with unchanged(claimed):
        assert (
            cli(
                "memory",
                "log",
                "--summary",
                "x",
                "--ref",
                "_bus/claims/NOPE.json",
                cwd=claimed,
                agent="e1",
            ).code
            == 4
        )
        assert (
            cli(
                "memory", "log", "--summary", "x", "--ref", "../etc/passwd", cwd=claimed, agent="e1"
            ).code
            == 4
        )
    assert cli("check", cwd=claimed).code == 0
    with (claimed / "memory/log.jsonl").open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "ts": "2025-01-01T00:00:00Z",
                    "summary": "bad",
                    "ref": "_bus/events/events.jsonl#sha256:" + "0" * 64,
                }
            )
            + "\n"
        )
    res = cli("check", cwd=claimed)
    assert res.code == 1 and "memory/log.jsonl line 2" in res.out
    assert cli("check", "--json", cwd=claimed).json["ok"] is False


def test_check_pr(claimed: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(claimed, "add", "_plans")
    git(claimed, "commit", "-qm", "plan")
    res = cli("check", "--pr", "main..agent/e1/queue-001", cwd=claimed)
    assert res.code == 0, res.out + res.err
    assert "pr check: branch agent/e1/queue-001: e1 holds QUEUE-001" in res.out
    assert cli("check", "--pr", "main..HEAD", cwd=claimed).code == 0
    git(claimed, "branch", "agent/e2/queue-001")
    res = cli("check", "--pr", "main..agent/e2/queue-001", "--json", cwd=claimed)
    assert res.code == 1
    assert any("claimed by e1" in e and "not by e2" in e for e in res.json["errors"])
    git(claimed, "branch", "feature-x")
    res = cli("check", "--pr", "main..feature-x", cwd=claimed)
    assert res.code == 1 and "is not an agent branch" in res.out
    res = cli("check", "--pr", "main..HEAD", "--branch", "agent/e1/other", cwd=claimed)
    assert res.code == 0  # the plan changed in the PR names QUEUE-001
    assert cli("check", "--pr", "main..nope", cwd=claimed).code == 4
    assert cli("check", "--pr", "main", cwd=claimed).code == 2
    assert cli("release", "--task", "QUEUE-001", "--status", "released", cwd=claimed).code == 0
    res = cli("check", "--pr", "main..HEAD", cwd=claimed, env={"GITHUB_ACTIONS": "true"})
    assert res.code == 0  # released after the PR's head commit: it was held


def test_check_pr_reports_duplicate_claims_from_a_committed_bus(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    claim = {
        "task_id": "Q-1",
        "branch": "agent/e1/q-1",
        "status": "active",
        "claimed_at": "2025-01-01T00:00:00Z",
    }
    path = dir_repo / "_bus/claims/Q-1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**claim, "agent_id": "e2", "branch": "agent/e2/q-1"}))
    git(dir_repo, "add", "_bus")
    git(dir_repo, "commit", "-qm", "e2 claims")
    git(dir_repo, "switch", "-qc", "agent/e1/q-1", "HEAD~1")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**claim, "agent_id": "e1"}))
    git(dir_repo, "add", "_bus")
    git(dir_repo, "commit", "-qm", "e1 claims")
    res = cli("check", "--pr", "main...agent/e1/q-1", cwd=dir_repo)
    assert res.code == 1
    assert "duplicate claim: task Q-1 has 2 active claims (e1, e2)" in res.out
    assert "resolve by releasing one" in res.out


def test_pre_push_under_the_pre_commit_framework(repo: Path) -> None:
    from pbhelpers import run

    refused = run(
        "repobus hook pre-push",
        repo,
        expect=1,
        stdin="",
        REPOBUS_AGENT="e1",
        PRE_COMMIT_REMOTE_BRANCH="refs/heads/agent/e2/x",
    )
    assert "push refused: agent/e2/x outside agent/e1/" in refused.stderr
    run(
        "repobus hook pre-push",
        repo,
        stdin="",
        REPOBUS_AGENT="e1",
        PRE_COMMIT_REMOTE_BRANCH="refs/heads/agent/e1/x",
    )
    hooks = (Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text()
    assert "entry: repobus hook pre-push" in hooks and "stages: [pre-push]" in hooks
