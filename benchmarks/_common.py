"""Helpers shared by the benchmark modules: an isolated git environment, git calls, stats."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ZERO = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

_DROP = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_PREFIX", "GIT_NAMESPACE", "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "REPOBUS_AGENT",
    "XDG_CONFIG_HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX",
)


def isolated_env(home: Path) -> dict[str, str]:
    """An environment in which git reads only `home/.gitconfig` and the repository's config."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / ".gitconfig"
    if not cfg.exists():
        cfg.write_text(
            "[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n"
            "[maintenance]\n\tauto = false\n",
            encoding="utf-8",
        )
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home / ".config"),
               LC_ALL="C", LANG="C", GIT_TERMINAL_PROMPT="0")
    # Python processes cache bytecode, as an installed package does, but in a private tree
    # (nothing is written next to the sources); PYTHONDONTWRITEBYTECODE would make every
    # CLI start recompile repobus.
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


def git(cwd: Path | str, *args: str, env: dict[str, str] | None = None,
        stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({res.returncode}): "
                           f"{res.stderr.decode(errors='replace').strip()}")
    return res


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p95(xs: Sequence[float]) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(0.95 * len(s)) - 1))]


def terminate(proc: subprocess.Popen[Any]) -> None:
    """Stop a process this benchmark started, by its own handle (PID): SIGTERM, then SIGKILL
    when it has not ended within 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
