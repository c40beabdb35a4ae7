"""`repobus mcp` through the real MCP client: `ClientSession` over `stdio_client`, each
session spawning its own `python -m repobus mcp` process in the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")
anyio = pytest.importorskip("anyio")

TOOLS = {
    "claim",
    "renew",
    "release",
    "pause",
    "log_event",
    "send_message",
    "inbox",
    "status",
    "assign",
    "report",
}


def _err(result: Any) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def _data(result: Any) -> Any:
    got = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    assert got is not None and not _err(result), _text(result)
    return got


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def _session(stack: AsyncExitStack, repo: Path, agent: str | None) -> Any:
    env = dict(os.environ)
    env.pop("REPOBUS_AGENT", None)
    if agent:
        env["REPOBUS_AGENT"] = agent
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "repobus", "mcp"], cwd=str(repo), env=env
    )
    read, write = await stack.enter_async_context(mcp.stdio_client(params))
    session = await stack.enter_async_context(mcp.ClientSession(read, write))
    await session.initialize()
    return session


def test_two_agents_race_one_wins_then_log_and_status(repo: Path, cli: Callable[..., Any]) -> None:
    async def main() -> None:
        with anyio.fail_after(120):
            async with AsyncExitStack() as stack:
                a = await _session(stack, repo, "agent-a")
                b = await _session(stack, repo, "agent-b")
                listed = await a.list_tools()
                names = {t.name for t in listed.tools}
                assert names >= TOOLS and len(names) <= 12
                size = len(listed.model_dump_json(by_alias=True, exclude_none=True)) // 4
                assert size < 3000, f"tool list is {size} tokens"

                results: dict[str, Any] = {}

                async def claim(who: str, session: Any) -> None:
                    results[who] = await session.call_tool("claim", {"task": "QUEUE-001"})

                async with anyio.create_task_group() as tg:
                    tg.start_soon(claim, "agent-a", a)
                    tg.start_soon(claim, "agent-b", b)
                won = [w for w, r in results.items() if not _err(r)]
                lost = [w for w, r in results.items() if _err(r)]
                assert len(won) == 1 and len(lost) == 1
                winner, loser = (a, b) if won == ["agent-a"] else (b, a)
                rec = _data(results[won[0]])
                assert rec["agent_id"] == won[0] and rec["fencing_token"] == 1
                assert rec["lease_state"] == "active"
                text = _text(results[lost[0]])
                assert "conflict" in text and won[0] in text

                ev = await winner.call_tool(
                    "log_event",
                    {"event": "status", "task": "QUEUE-001", "summary": "tests green", "fence": 1},
                )
                assert _data(ev)["fencing_token"] == 1
                refused = await loser.call_tool(
                    "log_event", {"event": "status", "task": "QUEUE-001", "summary": "not mine"}
                )
                assert _err(refused) and "conflict" in _text(refused)
                stale = await winner.call_tool("renew", {"task": "QUEUE-001", "fence": 7})
                assert _err(stale) and "stale_token" in _text(stale)
                missing = await loser.call_tool("release", {"task": "QUEUE-404"})
                assert _err(missing) and "not_found" in _text(missing)

                status = _data(await loser.call_tool("status", {}))
                claim_rec = next(c for c in status["claims"] if c["task_id"] == "QUEUE-001")
                assert claim_rec["agent_id"] == won[0]
                assert any(e.get("summary") == "tests green" for e in status["events"])
                report = _data(await loser.call_tool("report", {}))
                assert [c["task_id"] for c in report["claims"]] == ["QUEUE-001"]
                assert "tests green" in report["recent_events"]["QUEUE-001"][0]

                res = await loser.read_resource("repobus://claims/active")
                active = json.loads(res.contents[0].text)
                assert [c["task_id"] for c in active] == ["QUEUE-001"]

    anyio.run(main)
    data = cli("status", "--json", cwd=repo).json
    assert [c["task_id"] for c in data["claims"]] == ["QUEUE-001"]


def test_messages_assignments_and_identity_from_the_manifest(
    repo: Path, cli: Callable[..., Any]
) -> None:
    assert cli("init", "--agent", "manager-1", cwd=repo).code == 0

    async def main() -> None:
        with anyio.fail_after(120):
            async with AsyncExitStack() as stack:
                m = await _session(stack, repo, None)
                asg = _data(await m.call_tool("assign", {"task": "QUEUE-002", "engineer": "eng-2"}))
                assert asg["manager"] == "manager-1" and asg["engineer"] == "eng-2"
                sent = await m.call_tool(
                    "send_message",
                    {
                        "task": "QUEUE-002",
                        "type": "comment",
                        "summary": "start with the tests",
                        "to": "eng-2",
                    },
                )
                assert _data(sent)["from"] == "manager-1"
                box = _data(await m.call_tool("inbox", {"agent": "eng-2"}))
                assert box["agent_id"] == "eng-2"
                assert [x["type"] for x in box["messages"]] == ["assignment", "comment"]
                report = _data(await m.call_tool("report", {}))
                assert report["assignments"][0]["engineer"] == "eng-2"
                paused = await m.call_tool("pause", {"task": "QUEUE-002", "notes": "x"})
                assert _err(paused) and "not_found" in _text(paused)

    anyio.run(main)


def test_mcp_without_the_extra_exits_5(repo: Path) -> None:
    code = (
        "import sys; sys.modules['mcp'] = None\n"
        "from repobus.cli import main; raise SystemExit(main(['mcp']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 5
    assert "the mcp extra is not installed: pip install '/path/to/repobus[mcp]'" in done.stderr
