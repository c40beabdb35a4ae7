"""The agents' door (issue 15): strict arguments, described tools, one identity per server,
texts for models, a start outside any repository.  Real `python -m repobus mcp` processes,
driven by the MCP SDK's own client over stdio."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")
anyio = pytest.importorskip("anyio")

# one argument each tool needs, so that a call fails on the unknown argument alone
NEEDED: dict[str, dict[str, Any]] = {
    "claim": {"task": "T-1"},
    "renew": {"task": "T-1"},
    "release": {"task": "T-1"},
    "pause": {"task": "T-1", "notes": "n"},
    "log_event": {"event": "note", "summary": "s"},
    "send_message": {"task": "T-1", "type": "comment", "summary": "s"},
    "inbox": {},
    "status": {},
    "assign": {"task": "T-1", "engineer": "e"},
    "report": {},
    "task_history": {"task": "T-1"},
}


def _err(result: Any) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def _data(result: Any) -> Any:
    got = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    assert got is not None and not _err(result), _text(result)
    return got


async def _session(
    stack: AsyncExitStack, cwd: Path, agent: str | None, *args: str, **env: str
) -> Any:
    full = {k: v for k, v in os.environ.items() if k not in ("REPOBUS_AGENT", "REPOBUS_REPO")}
    full.update(env)
    if agent:
        full["REPOBUS_AGENT"] = agent
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "repobus", "mcp", *args], cwd=str(cwd), env=full
    )
    read, write = await stack.enter_async_context(mcp.stdio_client(params))
    session = await stack.enter_async_context(mcp.ClientSession(read, write))
    await session.initialize()
    return session


def _serve(
    cwd: Path, agent: str | None, body: Callable[[Any], Any], *args: str, **env: str
) -> None:
    async def main() -> None:
        with anyio.fail_after(120):
            async with AsyncExitStack() as stack:
                await body(await _session(stack, cwd, agent, *args, **env))

    anyio.run(main)


def test_tool_list_is_small_described_annotated_and_closed(repo: Path) -> None:
    async def body(s: Any) -> None:
        listed = await s.list_tools()
        assert set(NEEDED) == {t.name for t in listed.tools} and len(listed.tools) <= 12
        tokens = len(listed.model_dump_json(by_alias=True, exclude_none=True)) // 4
        assert tokens <= 2500, f"tool list is {tokens} tokens"
        for tool in listed.tools:
            schema = tool.model_dump(by_alias=True)["inputSchema"]
            assert schema["additionalProperties"] is False
            for name, prop in schema["properties"].items():
                assert prop.get("description"), f"{tool.name}.{name} has no description"
            hints = tool.model_dump(by_alias=True)["annotations"]
            assert hints["readOnlyHint"] is (tool.name in READS)
            assert isinstance(hints["destructiveHint"], bool)
            assert isinstance(hints["idempotentHint"], bool)
        tools = {t.name: t.model_dump(by_alias=True)["inputSchema"] for t in listed.tools}
        assert tools["release"]["properties"]["status"]["enum"] == ["done", "released", "paused"]
        assert tools["log_event"]["properties"]["severity"]["enum"] == ["low", "medium", "high"]
        assert "agent" not in tools["claim"]["properties"]  # not offered: this server is one agent

    _serve(repo, "a1", body)


READS = {"inbox", "status", "report", "task_history"}


def test_every_tool_refuses_an_unknown_argument_naming_the_closest(repo: Path) -> None:
    async def body(s: Any) -> None:
        ignored = []
        for tool, args in NEEDED.items():
            got = await s.call_tool(tool, {**args, "bogus_arg": 1})
            text = _text(got)
            if not (_err(got) and "usage: `bogus_arg` is not an argument of " + tool in text):
                ignored.append((tool, text[:200]))
        assert ignored == []
        got = await s.call_tool("renew", {"task": "T-1", "fencing_token": 1})
        assert _err(got) and (
            "`fencing_token` is not an argument of renew; did you mean `fence`?" in _text(got)
        )
        got = await s.call_tool("release", {"task": "T-1", "status": "finished"})
        assert _err(got) and "must be one of done, released, paused" in _text(got)
        status = _data(await s.call_tool("status", {}))
        assert status["claims"] == [] and status["events"] == []  # nothing ran

    _serve(repo, "a1", body)


def test_a_server_is_one_agent_and_refuses_to_act_for_another(repo: Path) -> None:
    async def body(s: Any) -> None:
        _data(await s.call_tool("claim", {"task": "T-1", "agent": "a1"}))  # itself: fine
        for tool, args in NEEDED.items():
            if tool in READS:
                continue
            got = await s.call_tool(tool, {**args, "agent": "b2"})
            assert _err(got) and "not_allowed: a1 may not" in _text(got), _text(got)
            assert "--allow-act-as" in _text(got)
        status = _data(await s.call_tool("status", {"limit": 50}))
        assert [c["agent_id"] for c in status["claims"]] == ["a1"]
        assert {e["agent_id"] for e in status["events"]} <= {"a1"}

    _serve(repo, "a1", body)


def _act_for_b2(s: Any) -> Any:
    async def run() -> None:
        listed = await s.list_tools()
        assert len(listed.model_dump_json(by_alias=True, exclude_none=True)) // 4 <= 2500
        claim = next(t for t in listed.tools if t.name == "claim")
        assert "agent" in claim.model_dump(by_alias=True)["inputSchema"]["properties"]
        _data(await s.call_tool("claim", {"task": "T-2", "agent": "b2"}))
        got = _data(await s.call_tool("release", {"task": "T-2", "agent": "b2", "fence": 1}))
        assert got["agent_id"] == "b2" and got["by"] == "mgr" and got["status"] == "done"
        ev = _data(
            await s.call_tool(
                "log_event", {"event": "note", "summary": "for b2", "task": "T-2", "agent": "b2"}
            )
        )
        assert ev["agent_id"] == "b2" and ev["by"] == "mgr"

    return run()


def _acts_recorded(repo: Path, cli: Callable[..., Any]) -> None:
    events = cli("status", "--json", "--limit", "50", "--all", cwd=repo).json["events"]
    acts = [e for e in events if e["event"] == "acted_for"]
    assert [(e["agent_id"], e["for"], e["task_id"]) for e in acts] == [
        ("mgr", "b2", "T-2"),
        ("mgr", "b2", "T-2"),
        ("mgr", "b2", "T-2"),
    ]
    assert all("repobus mcp" in e["door"] for e in acts)


def test_allow_act_as_lets_the_server_act_for_another_and_records_it(
    repo: Path, cli: Callable[..., Any]
) -> None:
    _serve(repo, "mgr", _act_for_b2, "--allow-act-as")
    _acts_recorded(repo, cli)


def test_a_managers_manifest_may_act_for_another_and_it_is_recorded(
    repo: Path, cli: Callable[..., Any]
) -> None:
    manifest = {"agent_id": "mgr", "desired_roles": ["manager"]}
    (repo / "AGENT_MANIFEST.json").write_text(json.dumps(manifest))
    _serve(repo, None, _act_for_b2)
    _acts_recorded(repo, cli)


def test_errors_speak_in_tools_and_arguments(repo: Path) -> None:
    async def body(s: Any) -> None:
        texts = [
            _text(await s.call_tool("release", {"task": "NOPE-1"})),
            _text(await s.call_tool("renew", {"task": "NOPE-1"})),
            _text(await s.call_tool("log_event", {"event": "status", "summary": "x", "task": "N"})),
        ]
        for text in texts:
            assert "--" not in text and "tools.agent" not in text, text
        assert "the claim tool (task=NOPE-1)" in texts[0]

    _serve(repo, "a1", body)


@pytest.mark.parametrize("how", ["cwd", "repo_option", "env"])
def test_started_outside_a_repository_it_answers_not_set_up(tmp_path: Path, how: str) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    args = ("--repo", str(nowhere)) if how == "repo_option" else ()
    env = {"REPOBUS_REPO": str(nowhere)} if how == "env" else {}

    async def body(s: Any) -> None:
        assert {t.name for t in (await s.list_tools()).tools} == set(NEEDED)
        for tool, args in NEEDED.items():
            got = await s.call_tool(tool, args)
            text = _text(got)
            assert _err(got) and "not_set_up: repobus mcp has no repository" in text
            assert "--repo PATH" in text and "REPOBUS_REPO" in text and str(nowhere) in text

    _serve(tmp_path if how != "cwd" else nowhere, "a1", body, *args, **env)


def test_a_server_started_before_the_repository_serves_it_once_it_exists(
    tmp_path: Path,
) -> None:
    later = tmp_path / "later"
    later.mkdir()

    async def body(s: Any) -> None:
        assert _err(await s.call_tool("status", {}))
        import subprocess

        subprocess.run(["git", "init", "-q", str(later)], check=True, timeout=60)
        subprocess.run(
            ["git", "-C", str(later), "commit", "-q", "--allow-empty", "-m", "init"],
            check=True,
            timeout=60,
        )
        assert _data(await s.call_tool("claim", {"task": "T-9"}))["agent_id"] == "a1"

    _serve(later, "a1", body)


def test_lines_appended_by_hand_are_taken_in_by_the_next_tool_call(
    repo: Path, cli: Callable[..., Any]
) -> None:
    """The playbook's step 8 beside an MCP client: an agent appends a JSONL line to the
    `_bus/` mirror; the server's next call (a read) takes it in, as the server's agent, once;
    a line that cannot be taken in makes the call fail naming the file and line."""
    assert cli("init", cwd=repo).code == 0
    assert cli("claim", "--task", "T-1", cwd=repo, agent="a1").code == 0
    events = repo / "_bus" / "events" / "events.jsonl"

    async def body(s: Any) -> None:
        with open(events, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": "note", "summary": "by hand"}) + "\n")
        shown = _data(await s.call_tool("status", {"limit": 50}))
        mine = [e for e in shown["events"] if e["summary"] == "by hand"]
        assert [e["agent_id"] for e in mine] == ["a1"], shown["events"]
        again = _data(await s.call_tool("status", {"limit": 50}))
        assert [e["summary"] for e in again["events"]].count("by hand") == 1
        with open(events, "a", encoding="utf-8") as fh:
            fh.write("{not json\n")
        got = await s.call_tool("status", {})
        assert _err(got) and "_bus/events/events.jsonl line" in _text(got), _text(got)

    _serve(repo, "a1", body)
    lines = events.read_text().splitlines()
    assert lines[-1] == "{not json" and sum('"by hand"' in x for x in lines) == 1
