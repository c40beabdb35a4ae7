"""Helpers for the playbook tests: run a playbook command line as a real process."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

TOOLS = (
    "bus_claim",
    "bus_event",
    "bus_message",
    "bus_status",
    "bus_watch",
    "bus_inbox",
    "bus_heartbeat",
    "stale_claims",
    "session_boot",
    "task_assign",
    "manager_report",
    "manifest_helper",
)
VENV_BIN = str(Path(sys.executable).parent)


def env(**extra: str) -> dict[str, str]:
    """The test's environment with the venv's python3 first on PATH (for the shebangs)."""
    out = {k: v for k, v in os.environ.items() if k != "REPOBUS_AGENT"}
    out["PATH"] = VENV_BIN + os.pathsep + out.get("PATH", "")
    out.update(extra)
    return out


def argv_of(line: str) -> list[str]:
    """A playbook command line as argv: `python` is the test's interpreter, `repobus` its
    module, and a bare tool name (`bus_claim release ...`) the playbook's shorthand for
    `python -m tools.agent.bus_claim`."""
    argv = shlex.split(line)
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    if argv[0] == "repobus":
        return [sys.executable, "-m", "repobus", *argv[1:]]
    if argv[0] in TOOLS:
        return [sys.executable, "-m", f"tools.agent.{argv[0]}", *argv[1:]]
    return argv


def run(
    line: str, cwd: Path, *, expect: int | None = 0, stdin: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        argv_of(line),
        cwd=cwd,
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )
    if expect is not None:
        assert res.returncode == expect, (line, res.returncode, res.stdout, res.stderr)
    return res


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()
