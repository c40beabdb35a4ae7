"""Every playbook line from any install: repobus installed in an isolated venv whose only
things on PATH are its `repobus` and the bare names (as pipx leaves them), the shims run by
the SYSTEM python3, where `import repobus` fails.

The venv is made once per module: this project's wheel built with the current venv's
hatchling (no build isolation, no network) and installed with the machine's configured
index for click and msgspec; a few seconds.  Skipped when no python3 without repobus, or no
hatchling, is at hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pbhelpers import TOOLS, git

ROOT = Path(__file__).resolve().parents[2]
AGENT = "codex-1"


def _system_python() -> str | None:
    """A python3 (3.11+) that cannot import repobus: what runs the shims here."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    for cand in (shutil.which("python3", path=path), "/usr/bin/python3"):
        if not cand or not os.path.exists(cand):
            continue
        probe = subprocess.run(
            [cand, "-c", "import sys; assert sys.version_info >= (3, 11); import repobus"],
            capture_output=True,
            timeout=60,
        )
        if probe.returncode != 0 and b"No module named 'repobus'" in probe.stderr:
            return cand
    return None


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only links to the isolated venv's `repobus` and bare names."""
    pytest.importorskip("hatchling")
    base = tmp_path_factory.mktemp("install")
    wheels, venv, on_path = base / "wheels", base / "venv", base / "path"

    def step(*argv: str) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])

    py = sys.executable
    step(
        py,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-build-isolation",
        "--no-deps",
        "-w",
        str(wheels),
        str(ROOT),
    )
    step(py, "-m", "venv", "--without-pip", str(venv))
    wheel = next(wheels.glob("repobus-*.whl"))
    step(py, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q", str(wheel))
    on_path.mkdir()
    for name in ("repobus", *TOOLS):
        (on_path / name).symlink_to(venv / "bin" / name)
    return on_path


@pytest.fixture
def system_python() -> str:
    found = _system_python()
    if found is None:
        pytest.skip("no python3 without repobus on this machine")
    return found


def _env(on_path: Path | None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("REPOBUS_AGENT", "VIRTUAL_ENV")}
    out["PATH"] = os.pathsep.join([*([str(on_path)] if on_path else []), "/usr/bin", "/bin"])
    return out


def _run(
    argv: list[str], cwd: Path, on_path: Path | None, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        argv, cwd=cwd, env=_env(on_path), capture_output=True, text=True, timeout=120
    )
    assert res.returncode == expect, (argv, res.returncode, res.stdout, res.stderr)
    return res


def _forms(py: str, tool: str) -> list[list[str]]:
    """The three ways the playbook runs a tool, plus its bare name."""
    return [[py, "-m", f"tools.agent.{tool}"], [py, f"tools/agent/{tool}.py"], [tool]]


def test_playbook_lines_with_the_system_python(
    repo: Path, installed: Path, system_python: str
) -> None:
    _run(["repobus", "init", "--shims", "--agent", AGENT], repo, installed)
    shim = (repo / "tools/agent/bus_claim.py").read_text()
    assert str(installed.parent / "venv" / "bin" / "python") in shim  # the recorded Python
    py = system_python
    _run([py, "-m", "tools.agent.session_boot", "--agent", AGENT, "--no-sync"], repo, installed)
    refused = _run(
        [py, "tools/agent/bus_claim.py", "claim", "--task", "QUEUE-1"], repo, installed, 1
    )
    assert "assignment missing for QUEUE-1" in refused.stderr
    bare = _run(["bus_claim", "claim", "--task", "QUEUE-1"], repo, installed, 1)
    assert bare.stderr == refused.stderr
    _run(
        [py, "-m", "tools.agent.bus_claim", "claim", "--task", "QUEUE-1", "--allow-unassigned"],
        repo,
        installed,
    )
    _run(
        ["bus_event", "log", "--event", "note", "--task", "QUEUE-1", "--summary", "started"],
        repo,
        installed,
    )
    _run(
        [
            py,
            "tools/agent/bus_message.py",
            "--task",
            "QUEUE-1",
            "--type",
            "status",
            "--summary",
            "halfway",
        ],
        repo,
        installed,
    )
    docs = [
        json.loads(_run([*f, "--json"], repo, installed).stdout) for f in _forms(py, "bus_status")
    ]
    assert len({_without_clock(d) for d in docs}) == 1  # the same answer whichever way it is run
    status = docs[0]
    assert [c["task_id"] for c in status["claims"]] == ["QUEUE-1"]
    _run(["bus_claim", "release", "--task", "QUEUE-1", "--status", "done"], repo, installed)
    claim = json.loads((repo / "_bus/claims/QUEUE-1.json").read_text())
    assert claim["status"] == "done" and claim["agent_id"] == AGENT


def test_a_shim_finds_the_repobus_on_path_and_says_how_to_install(
    repo: Path, installed: Path, system_python: str
) -> None:
    _run(["repobus", "init", "--shims", "--agent", AGENT], repo, installed)
    shim = repo / "tools/agent/bus_status.py"
    recorded = str(installed.parent / "venv" / "bin" / "python")
    shim.write_text(shim.read_text().replace(repr(recorded), repr("/nonexistent/python3")))
    other = repo.parent / "elsewhere"  # run from outside the repository: its root goes along
    other.mkdir()
    via_path = _run([system_python, str(shim), "--json"], other, installed)
    assert json.loads(via_path.stdout)["claims"] == []
    missing = _run([system_python, str(shim), "--json"], other, None, 5)
    assert "repobus is not installed" in missing.stderr
    assert "pipx install 'git+https://<repobus-url>'" in missing.stderr
    assert "pip install repobus" not in missing.stderr
    git(repo, "status", "--short")  # the repository is still a repository


def _without_clock(doc: dict[str, Any]) -> str:
    """The status document without what moves with the clock between two runs (a lease's
    seconds left, the start of the finished-claims window)."""
    claims = [{k: v for k, v in c.items() if k != "lease_seconds_left"} for c in doc["claims"]]
    filters = {k: v for k, v in doc["filters"].items() if k != "finished_since"}
    return json.dumps({**doc, "claims": claims, "filters": filters}, sort_keys=True)
