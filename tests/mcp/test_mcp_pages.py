"""MCP results are compact and bounded, and page with a cursor: `status` and `report` with
default arguments stay under the bound on a bus with many claims, and following
`next_cursor` sees every claim (or open task) exactly once.  In-process: the server `build`
returns, called as the SDK calls a tool."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")
anyio = pytest.importorskip("anyio")

from repobus.bus import open_bus, with_config  # noqa: E402
from repobus.mcp import server  # noqa: E402

DAY = 86400
LIVE = 70
OLD = 40


def _busy(repo: Path, cli: Callable[..., Any]) -> Any:
    assert cli("init", "--agent", "a1", "--no-remote", cwd=repo).code == 0
    bus = open_bus(repo)
    now = bus.clock()
    old = with_config(bus)
    old.clock = lambda: now - 3 * DAY  # type: ignore[method-assign]
    for i in range(OLD):
        old.claim("a2", f"T-old-{i:03d}")
        old.release("a2", f"T-old-{i:03d}")
    for i in range(LIVE):
        bus.claim(f"a{i % 5}", f"T-live-{i:03d}", notes="n" * 300)
        bus.log(f"a{i % 5}", "status", "s" * 200, task=f"T-live-{i:03d}")
    bus.assign("m1", "T-waiting", "a9")
    return bus


def _call(srv: Any, tool: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    async def run() -> Any:
        return await srv.call_tool(tool, args)

    res = anyio.run(run)
    text = res.content[0].text
    assert json.loads(text) == res.structured_content
    return text, res.structured_content


def _all_pages(srv: Any, tool: str, args: dict[str, Any], key: str) -> list[str]:
    seen: list[str] = []
    cursor: dict[str, str] = {}
    for _ in range(200):
        text, doc = _call(srv, tool, {**args, **cursor})
        assert len(text) <= server.MAX_CHARS and "\n" not in text
        seen += [c[key] for c in doc["claims"]] if tool == "status" else _report_tasks(doc)
        if doc["next_cursor"] is None:
            return seen
        cursor = {"cursor": doc["next_cursor"]}
    raise AssertionError("the pages never ended")


def _report_tasks(doc: dict[str, Any]) -> list[str]:
    return sorted(
        {c["task_id"] for c in doc["claims"]} | {a["task_id"] for a in doc["assignments"]}
    )


def test_status_and_report_are_compact_bounded_and_page_through_everything(
    repo: Path, cli: Callable[..., Any]
) -> None:
    bus = _busy(repo, cli)
    srv = server.build(bus, agent="a1")
    text, doc = _call(srv, "status", {})
    assert len(text) <= server.MAX_CHARS and doc["next_cursor"] and doc["claims_left_out"] == OLD
    live = [f"T-live-{i:03d}" for i in range(LIVE)]
    assert _all_pages(srv, "status", {}, "task_id") == live
    old = [f"T-old-{i:03d}" for i in range(OLD)]
    assert _all_pages(srv, "status", {"all": True}, "task_id") == sorted(live + old)
    assert _all_pages(srv, "report", {}, "task_id") == sorted([*live, "T-waiting"])
    text, doc = _call(srv, "report", {})
    assert len(text) <= server.MAX_CHARS and doc["next_cursor"]
    assert doc["recent_events"]["T-live-000"][0].endswith("s" * 200)


def test_task_history_pages_the_task_events_from_the_index(
    repo: Path, cli: Callable[..., Any]
) -> None:
    bus = _busy(repo, cli)
    for i in range(7):
        bus.log("a0", "note", f"step {i}", task="T-live-000")
    srv = server.build(bus, agent="a1")
    seen: list[str] = []
    cursor: dict[str, str] = {}
    for _ in range(10):
        _, doc = _call(srv, "task_history", {"task": "T-live-000", "limit": 3, **cursor})
        assert doc["claim"]["task_id"] == "T-live-000" and len(doc["events"]) <= 3
        seen = [e["summary"] for e in doc["events"]] + seen  # each page is older
        if doc["next_cursor"] is None:
            break
        cursor = {"cursor": doc["next_cursor"]}
    assert seen == ["s" * 200] + [f"step {i}" for i in range(7)]
