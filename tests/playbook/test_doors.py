"""The three doors - the CLI, the MCP server, the dashboard - write through one use-case layer
(playbook/doors.py): a guarded repository refuses a write without a fresh session at every
door, a write shows in the `_bus/` mirror whichever door made it, and MCP `assign` updates
`agents/tasks/tasks.json` as the CLI does.  Real processes throughout: `python -m repobus`,
`repobus mcp` driven by the MCP SDK's client over stdio, `repobus serve` over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import servers
from conftest import git, run_console, unchanged

GUARD_LOG = ("_report/agent/*/session_guard/events.jsonl",)
MISSING = "session guard: no manager-report tail for {agent}"


def _init(repo: Path, agent: str = "a1") -> Path:
    assert run_console("init", "--agent", agent, cwd=repo).returncode == 0
    return repo


def _guard_on(repo: Path) -> None:
    git(repo, "config", "repobus.sessionGuard", "true")


def _boot(repo: Path, agent: str) -> None:
    res = run_console("boot", "--agent", agent, "--no-sync", cwd=repo)
    assert res.returncode == 0, res.stderr


def _guard_codes(repo: Path, agent: str) -> list[str]:
    path = repo / "_report" / "agent" / agent / "session_guard" / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["code"] for line in path.read_text().splitlines() if line.strip()]


def _mirrored_claim(repo: Path, task: str) -> dict[str, Any]:
    return dict(json.loads((repo / "_bus" / "claims" / f"{task}.json").read_text()))


# -- the CLI -------------------------------------------------------------------------------
def test_cli_write_without_a_session_is_refused_and_writes_nothing(repo: Path) -> None:
    _guard_on(_init(repo))
    with unchanged(repo, allow=GUARD_LOG):
        res = run_console("claim", "--task", "QUEUE-001", cwd=repo, agent="a1")
    assert res.returncode == 5 and MISSING.format(agent="a1") in res.stderr
    assert _guard_codes(repo, "a1") == ["session_missing"]


def test_cli_write_shows_in_the_mirror(repo: Path) -> None:
    _guard_on(_init(repo))
    _boot(repo, "a1")
    assert run_console("claim", "--task", "QUEUE-001", cwd=repo, agent="a1").returncode == 0
    assert _mirrored_claim(repo, "QUEUE-001")["agent_id"] == "a1"


# -- the MCP server ------------------------------------------------------------------------
class Call:
    def __init__(self, result: Any) -> None:
        self.error = bool(getattr(result, "is_error", getattr(result, "isError", False)))
        self.text = " ".join(getattr(c, "text", "") for c in result.content)
        got = getattr(result, "structured_content", getattr(result, "structuredContent", None))
        self.data: dict[str, Any] = got or {}


Step = tuple[str, dict[str, Any]] | Callable[[], None]


def _mcp(repo: Path, agent: str, calls: list[Step], **env: str) -> list[Call]:
    """Start `python -m repobus mcp` in `repo` as `agent`, make the tool calls in order; a
    callable among them runs between two calls, while the server is still serving (the
    command's own mirror refresh when it exits must not be what a test sees)."""
    mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")
    anyio = pytest.importorskip("anyio")
    server_env = {k: v for k, v in os.environ.items() if k != "REPOBUS_AGENT"}
    server_env.update(REPOBUS_AGENT=agent, **env)
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "repobus", "mcp"], cwd=str(repo), env=server_env
    )
    out: list[Call] = []

    async def main() -> None:
        with anyio.fail_after(120):
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(mcp.stdio_client(params))
                session = await stack.enter_async_context(mcp.ClientSession(read, write))
                await session.initialize()
                for step in calls:
                    if callable(step):
                        step()
                    else:
                        out.append(Call(await session.call_tool(*step)))

    anyio.run(main)
    return out


def test_mcp_write_without_a_session_is_refused_and_writes_nothing(repo: Path) -> None:
    _guard_on(_init(repo))
    with unchanged(repo, allow=GUARD_LOG):
        (got,) = _mcp(repo, "a1", [("claim", {"task": "QUEUE-001"})])
    assert got.error and f"not_set_up: {MISSING.format(agent='a1')}" in got.text
    assert _guard_codes(repo, "a1") == ["session_missing"]


def test_mcp_write_with_a_stale_session_is_refused(repo: Path) -> None:
    _guard_on(_init(repo))
    receipt = repo / "_report" / "session" / "a1" / "manager-report-tail.txt"
    receipt.parent.mkdir(parents=True)
    receipt.write_text("# manager-report tail\n# captured_at=2000-01-01T00:00:00Z\n\n")
    with unchanged(repo, allow=GUARD_LOG):
        (got,) = _mcp(repo, "a1", [("log_event", {"event": "note", "summary": "hi"})])
    assert got.error and "not_set_up: session guard: session receipt for a1 is stale" in got.text
    assert _guard_codes(repo, "a1") == ["session_stale"]


def test_mcp_override_lets_a_stale_session_through_and_records_it(repo: Path) -> None:
    _guard_on(_init(repo))
    (got,) = _mcp(repo, "a1", [("claim", {"task": "QUEUE-001"})], REPOBUS_ALLOW_STALE_SESSION="1")
    assert not got.error and got.data["agent_id"] == "a1"
    assert _guard_codes(repo, "a1") == ["session_missing", "session_override"]


def test_mcp_write_shows_in_the_mirror(repo: Path) -> None:
    _guard_on(_init(repo))
    _boot(repo, "a1")
    seen: list[dict[str, Any]] = []
    claimed, paused = _mcp(
        repo,
        "a1",
        [
            ("claim", {"task": "QUEUE-001"}),
            lambda: seen.append(_mirrored_claim(repo, "QUEUE-001")),
            ("pause", {"task": "QUEUE-001", "notes": "lunch"}),
            lambda: seen.append(_mirrored_claim(repo, "QUEUE-001")),
        ],
    )
    assert not claimed.error and not paused.error, (claimed.text, paused.text)
    assert "warnings" not in claimed.data
    assert [(c["agent_id"], c["status"]) for c in seen] == [("a1", "active"), ("a1", "paused")]


def test_mcp_mirror_that_cannot_be_refreshed_is_a_warning_not_a_failure(repo: Path) -> None:
    _init(repo)
    shutil.rmtree(repo / "_bus")
    (repo / "_bus").write_text("not a directory\n")
    (got,) = _mcp(repo, "a1", [("claim", {"task": "QUEUE-001"})])
    assert not got.error and got.data["fencing_token"] == 1
    assert got.data["warnings"][0].startswith("the _bus/ mirror was not refreshed:")
    status = json.loads(run_console("status", "--json", cwd=repo).stdout)
    assert [c["task_id"] for c in status["claims"]] == ["QUEUE-001"]


def test_mcp_assign_updates_tasks_json_like_the_cli(repo: Path) -> None:
    _init(repo, "m1")
    args = ("--engineer", "eng-1", "--plan", "p-1", "--note", "start with the tests")
    cli = run_console("assign", "--task", "QUEUE-001", *args, cwd=repo, agent="m1")
    assert cli.returncode == 0, cli.stderr
    (got,) = _mcp(
        repo,
        "m1",
        [
            (
                "assign",
                {"task": "QUEUE-002", "engineer": "eng-1", "plan": "p-1", "note": args[-1]},
            )
        ],
    )
    assert not got.error and got.data["engineer"] == "eng-1", got.text
    registry = json.loads((repo / "agents" / "tasks" / "tasks.json").read_text())
    by_id = {t["id"]: t for t in registry["tasks"]}
    assert set(by_id) == {"QUEUE-001", "QUEUE-002"}
    assert by_id["QUEUE-002"] == {**by_id["QUEUE-001"], "id": "QUEUE-002"}
    assert by_id["QUEUE-002"]["assigned_by"] == "m1"
    assert json.loads((repo / "_bus" / "assignments" / "QUEUE-002.json").read_text())["manager"]


# -- the dashboard -------------------------------------------------------------------------
class Dash:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def post(self, action: str, **form: str) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(
            f"{self.url}act/{action}",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return res.status, dict(json.loads(res.read()))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(json.loads(exc.read()))


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Callable[[Path, str], Dash]]:
    """`repobus serve --allow-writes --agent AGENT` on a free loopback port; stopped by PID."""
    pytest.importorskip("starlette", reason="the web extra is not installed")
    started: list[subprocess.Popen[str]] = []

    def start(repo: Path, agent: str) -> Dash:
        argv = ["serve", "--port", "0", "--json", "--allow-writes", "--agent", agent]
        with (tmp_path / f"serve-{len(started)}.err").open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "repobus", *argv],
                cwd=repo,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        started.append(proc)
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        assert got and got[0], "serve printed nothing"
        info = json.loads(got[0])
        return Dash(info["url"], info["token"])

    yield start
    for proc in started:
        servers.stop(proc)


def test_dashboard_write_without_a_session_is_refused_and_writes_nothing(
    repo: Path, dashboard: Callable[[Path, str], Dash]
) -> None:
    _init(repo)
    assert run_console("claim", "--task", "QUEUE-001", cwd=repo, agent="a1").returncode == 0
    dash = dashboard(repo, "alice")
    _guard_on(repo)  # after the start: the policy is read at every write, not at start
    with unchanged(repo, allow=GUARD_LOG):
        code, body = dash.post("pause", task="QUEUE-001", notes="stop")
    assert code == 503 and body["kind"] == "not_set_up"
    assert body["error"].startswith(MISSING.format(agent="alice"))
    assert _guard_codes(repo, "alice") == ["session_missing"]


def test_dashboard_write_shows_in_the_mirror(
    repo: Path, dashboard: Callable[[Path, str], Dash]
) -> None:
    _guard_on(_init(repo))
    _boot(repo, "a1")
    _boot(repo, "alice")
    assert run_console("claim", "--task", "QUEUE-001", cwd=repo, agent="a1").returncode == 0
    dash = dashboard(repo, "alice")
    code, body = dash.post("pause", task="QUEUE-001", notes="stop: wrong approach")
    assert code == 200 and body["ok"] and "warnings" not in body, body
    mirrored = _mirrored_claim(repo, "QUEUE-001")
    assert mirrored["status"] == "paused" and mirrored["by"] == "alice"
    code, body = dash.post("release", task="QUEUE-001")
    assert code == 200, body
    assert _mirrored_claim(repo, "QUEUE-001")["status"] == "released"
    events = (repo / "_bus" / "events" / "events.jsonl").read_text()
    assert '"event":"dashboard_release"' in events.replace(" ", "")
