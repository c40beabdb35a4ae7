"""The real bus the original tools wrote (the TEOF repository's `_bus/`, see
../shared/data/teof-bus/README.md), read as it is by the dir backend through the playbook's
read commands, run as real processes of the console script.

Asserted: every claim file, assignment file, event line (231) and message line is read and
exported with its original fields (parsed JSON objects compared), the original inbox and the
task-less manager-report lines kept in their own files (no `None.jsonl`), QUEUE-055
(`in_progress`) and the `pending` claims held - shown as such, never free, never finished -
and taken over only by the pause rule; no traceback and no `None` in any output.  Skipped
when the data is absent (a user's clone)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parents[3] / "shared/data/teof-bus/_bus"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"the TEOF bus data is absent ({DATA}): a user's clone"
)
KINDS = ("claims", "assignments", "events", "messages")


def _files(base: Path) -> dict[str, Path]:
    """The record files of a `_bus/` tree, by path relative to it."""
    out = {}
    for kind in KINDS:
        for p in sorted((base / kind).glob("*.json*")):
            if p.name != "handshake_index.json":  # a derived file of the tools, no record
                out[f"{kind}/{p.name}"] = p
    return out


def _parsed(path: Path) -> list[Any]:
    if path.suffix == ".json":
        return [json.loads(path.read_bytes())]
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "REPOBUS_"))}
    return {
        **env,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
    }


def _make_repo(root: Path) -> Path:
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    repo = root / "teof"
    shutil.copytree(DATA, repo / "_bus")
    env = _env(home)
    for argv in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "the original tools' bus"],
        ["config", "repobus.backend", "dir"],
    ):
        subprocess.run(["git", *argv], cwd=repo, env=env, check=True, capture_output=True)
    return repo


class Teof:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.env = _env(repo.parent / "home")

    def run(self, *args: str, agent: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, **({"REPOBUS_AGENT": agent} if agent else {}))
        got = subprocess.run(
            [sys.executable, "-m", "repobus", *args],
            cwd=self.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in got.stderr, (args, got.stderr)
        return got

    def ok(self, *args: str, agent: str | None = None) -> str:
        got = self.run(*args, agent=agent)
        assert got.returncode == 0, (args, got.stderr)
        assert "None" not in got.stdout, (args, got.stdout)  # legacy records: `-`, never None
        return got.stdout


@pytest.fixture(scope="module")
def teof(tmp_path_factory: pytest.TempPathFactory) -> Teof:
    return Teof(_make_repo(tmp_path_factory.mktemp("teof")))


def test_the_data_is_the_documented_set() -> None:
    src = _files(DATA)
    assert sum(k.startswith("claims/") for k in src) == 103
    assert sum(k.startswith("assignments/") for k in src) == 51
    assert len(_parsed(DATA / "events/events.jsonl")) == 231


def test_export_keeps_every_record_in_its_own_file_with_its_original_fields(
    teof: Teof, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    teof.ok("export", "--to", str(out))
    src, got = _files(DATA), _files(out)
    assert sorted(got) == sorted(src)  # the inbox and the lanes kept, no None.jsonl
    assert not (out / "messages/None.jsonl").exists()
    for rel, path in src.items():
        assert _parsed(got[rel]) == _parsed(path), rel
    lines = sum(len(_parsed(p)) for rel, p in src.items() if rel.startswith("messages/"))
    assert lines == 67


def test_status_reads_every_claim_and_event(teof: Teof) -> None:
    data = json.loads(teof.ok("status", "--all", "--json", "--limit", "1000"))
    assert len(data["claims"]) == 103 and data["next_cursor"] is None
    assert len(data["events"]) == 231
    claims = {c["task_id"]: c for c in data["claims"]}
    assert claims["QUEUE-055"]["status"] == "in_progress"
    assert claims["QUEUE-055"]["lease_state"] == "held"
    text = teof.ok("status")
    line = next(ln for ln in text.splitlines() if "QUEUE-055" in ln)
    assert "[in_progress] by codex-tier2" in line and "(unknown status, held)" in line
    live = json.loads(teof.ok("status", "--active-only", "--json"))
    held = {c["task_id"] for c in live["claims"] if c["lease_state"] == "held"}
    assert held == {"QUEUE-055", "ETHICS-ND-068", "ETHICS-ND-071"}  # live, not finished


def test_queue_shows_unknown_statuses_held_by_their_holder(teof: Teof) -> None:
    rows = {r["task_id"]: r for r in json.loads(teof.ok("queue", "--json"))["tasks"]}
    assert rows["QUEUE-055"]["state"] == "held"
    assert rows["QUEUE-055"]["holder"] == "codex-tier2"
    assert rows["QUEUE-055"]["status"] == "in_progress"
    assert {rows[t]["state"] for t in ("ETHICS-ND-068", "ETHICS-ND-071")} == {"held"}
    assert "unknown status, held" in teof.ok("queue", "--state", "held")


def test_the_original_inbox_is_read(teof: Teof) -> None:
    data = json.loads(teof.ok("inbox", "--agent", "manager", "--json"))
    assert data["total"] == 1
    (msg,) = data["messages"]
    original = _parsed(DATA / "messages/agent-manager.jsonl")[0]
    assert {k: v for k, v in msg.items() if k != "unread"} == original
    assert "total=1" in teof.ok("inbox", "--agent", "manager")


def test_heartbeat_names_old_heartbeats_stale_and_only_absent_ones_missing(teof: Teof) -> None:
    rep = json.loads(teof.ok("heartbeat", "--dry-run", "--fail-on", "never", "--json"))
    stale = {m["agent_id"]: m["last_seen"] for m in rep["manager"]["stale"]}
    missing = {m["agent_id"] for m in rep["manager"]["missing"]}
    assert stale["codex-1"] == "2025-09-19T06:37:59Z"
    assert {"codex-2", "codex-4", "codex-manager"} <= set(stale)
    assert missing == {"codex-tier2"}  # no handshake or status event of it in the log
    text = teof.ok("heartbeat", "--dry-run", "--fail-on", "never")
    assert "manager_heartbeat_stale: codex-1 (last 2025-09-19T06:37:59Z)" in text


def test_the_manager_report_counts_every_message(teof: Teof) -> None:
    rel = teof.ok("report").split("written to ", 1)[1].strip()
    text = (teof.repo / rel).read_text(encoding="utf-8")
    assert "None" not in text
    section = text.split("## Messages per thread", 1)[1].split("\n## ", 1)[0]
    counts = [int(ln.split(": ", 1)[1].split()[0]) for ln in section.splitlines() if ": " in ln]
    assert sum(counts) == 67
    assert "- `manager-report`: 53 messages" in section  # 52 lines + the inbox's reminder


def test_check_verify_watch_and_stale_read_everything(teof: Teof) -> None:
    got = teof.run("check")
    # the original CI rejects `pending`/`in_progress` and task-less lines too: named, exit 1
    assert got.returncode == 1 and "QUEUE-055" in got.stdout + got.stderr
    assert "intact" in teof.ok("verify")
    assert len(teof.ok("watch", "--limit", "1000").splitlines()) == 231
    teof.ok("stale")


def test_an_unknown_status_is_taken_over_only_by_the_pause_rule(tmp_path: Path) -> None:
    teof = Teof(_make_repo(tmp_path))
    path = teof.repo / "_bus/claims/QUEUE-055.json"
    before = path.read_bytes()
    got = teof.run("claim", "--task", "QUEUE-055", "--allow-unassigned", agent="codex-1")
    assert got.returncode == 3
    assert "already claimed by codex-tier2" in got.stderr and "in_progress" in got.stderr
    assert path.read_bytes() == before
    # codex-tier2 is silent for far longer than the pause silence: the pause rule frees it
    teof.ok("pause", "--task", "QUEUE-055", "--notes", "holder gone since 2025", agent="codex-1")
    teof.ok("claim", "--task", "QUEUE-055", "--allow-unassigned", agent="codex-1")
    rec = json.loads(path.read_bytes())
    assert rec["agent_id"] == "codex-1" and rec["status"] == "active"
    assert rec["op"] == "takeover" and rec["previous_holder"] == "codex-tier2"
