"""`repobus mcp` driven by a client nobody here wrote: the MCP Inspector's CLI (npm
`@modelcontextprotocol/inspector` 0.15.0, on Node 20), one `npx`-free process per call.

.ci/run installs it into .ci/inspector/; REPOBUS_INSPECTOR may name another binary.  Without
it the tests skip, except under CI=true, where they fail: CI must really run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.15.0"


def _inspector() -> str:
    given = os.environ.get("REPOBUS_INSPECTOR") or str(
        ROOT / ".ci/inspector/node_modules/.bin/mcp-inspector"
    )
    reason = None
    if not Path(given).is_file():
        reason = f"the MCP Inspector is not installed at {given} (.ci/run installs it)"
    elif shutil.which("node") is None:
        reason = "node is not on PATH"
    if reason is None:
        return given
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _env_args(agent: str | None) -> list[str]:
    """The server's environment: the inspector passes on only a few variables of its own, so
    the test's isolated git configuration and the agent go with -e."""
    keep = ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "PATH")
    pairs = {k: os.environ[k] for k in keep if k in os.environ}
    if agent:
        pairs["REPOBUS_AGENT"] = agent
    return [arg for k, v in pairs.items() for arg in ("-e", f"{k}={v}")]


def _argv(agent: str | None, method: str, tool: str | None, args: dict[str, Any]) -> list[str]:
    argv = [_inspector(), "--cli", *_env_args(agent), sys.executable, "-m", "repobus", "mcp"]
    argv += ["--method", method]
    if tool:
        argv += ["--tool-name", tool]
    for k, v in args.items():
        argv += ["--tool-arg", f"{k}={v}"]
    return argv


def _run(cwd: Path, agent: str | None, method: str, tool: str | None = None, **args: Any) -> Any:
    done = subprocess.run(
        _argv(agent, method, tool, args), cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def _text(result: Any) -> str:
    return " ".join(c.get("text", "") for c in result["content"])


def test_inspector_lists_the_tools(repo: Path) -> None:
    got = _run(repo, "a1", "tools/list")
    names = {t["name"] for t in got["tools"]}
    assert {"claim", "renew", "release", "log_event", "status"} <= names and len(names) <= 12
    assert len(json.dumps(got, separators=(",", ":"))) // 4 <= 2500


def test_inspector_claim_race_stale_fence_and_unknown_argument(repo: Path) -> None:
    racers = {
        who: subprocess.Popen(
            _argv(who, "tools/call", "claim", {"task": "RACE-1"}),
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a1", "b2")
    }
    results = {}
    try:
        for who, proc in racers.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results[who] = json.loads(out)
    finally:
        for proc in racers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    won = [w for w, r in results.items() if not r.get("isError")]
    assert len(won) == 1, results
    lost = next(w for w in results if w not in won)
    assert "conflict" in _text(results[lost]) and won[0] in _text(results[lost])

    stale = _run(repo, won[0], "tools/call", "renew", task="RACE-1", fence=99)
    assert stale["isError"] and "stale_token" in _text(stale)
    wrong = _run(repo, won[0], "tools/call", "renew", task="RACE-1", fencing_token=1)
    assert wrong["isError"] and "did you mean `fence`?" in _text(wrong)
    ok = _run(repo, won[0], "tools/call", "renew", task="RACE-1", fence=1)
    assert not ok["isError"] and ok["structuredContent"]["agent_id"] == won[0]


def test_inspector_outside_a_repository_connects_and_answers_not_set_up(tmp_path: Path) -> None:
    listed = _run(tmp_path, "a1", "tools/list")
    assert any(t["name"] == "claim" for t in listed["tools"])
    got = _run(tmp_path, "a1", "tools/call", "claim", task="T-1")
    assert got["isError"] and "not_set_up" in _text(got) and "REPOBUS_REPO" in _text(got)
