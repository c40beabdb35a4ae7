"""The original `tools/agent/*.py` command lines (FORMATS §1-§19), handed to repobus.

Each tool's flags are declared in the shim table (cli/compat_tools.py) and read by the same two
parsers as `repobus` itself: the fast parser, and click for `--help` and usage errors (exit 2,
with a usage line naming `python -m tools.agent.<tool>`).  The tool's planner turns the values
into repobus commands, run through the same dispatch as `repobus` itself (identity, session
guard, mirror).  Exit codes follow the originals: 0 ok, 2 usage, 1 for every refusal
(repobus's finer codes 3-6 become 1), 130 interrupted, 70 a bug.  Messages keep the original
substrings (`agent id required`, `claimed by`, `agent mismatch`, `session guard`, ...).

Invariant: `run(tool, argv, root)` keeps its signature; users' tools/agent shims import it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from repobus.cli.compat_base import Refusal, ShimUsage, unabbreviate
from repobus.cli.compat_tools import SHIMS, TOOLS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.cli.spec import Command

    Plan = list[tuple[str, dict[str, Any]]]

__all__ = ["TOOLS", "main", "run"]


def _exit_code(code: int) -> int:
    return 1 if code in (3, 4, 5, 6) else code


def _prog(tool: str) -> str:
    return f"python -m tools.agent.{tool}"


def _parse(tool: str, argv: list[str]) -> tuple[Command, dict[str, Any]] | int:
    """The tool's command and values, or the exit code once click printed help or an error."""
    from repobus.cli.spec import parse_fast

    sub = SHIMS.get(f"{tool} {argv[0]}") if argv else None
    cmd = sub or SHIMS.get(tool)
    if cmd is not None:
        argv = argv[:1] + unabbreviate(cmd, argv[1:]) if sub else unabbreviate(cmd, argv)
    parsed = parse_fast(SHIMS, [tool, *argv])
    if parsed is not None:
        return parsed
    from repobus.cli import clickapp

    return clickapp.parse(SHIMS, argv, prog=_prog(tool), under=tool)


def _plan(tool: str, argv: list[str]) -> Plan | int:
    """The repobus commands the tool's command line stands for, or its exit code."""
    import importlib

    parsed = _parse(tool, argv)
    if isinstance(parsed, int):
        return parsed
    cmd, values = parsed
    module, _, func = cmd.handler.partition(":")
    try:
        plan: Plan = getattr(importlib.import_module(module), func)(values)
    except Refusal as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except ShimUsage as exc:
        from repobus.cli import clickapp

        return clickapp.usage_error(SHIMS, cmd.name, str(exc), prog=_prog(tool))
    return plan


def run(tool: str, argv: list[str], root: Path | str | None = None) -> int:
    """Run the original tool `tool` with `argv` against the repository at `root`."""
    from repobus.cli.commands import TABLE
    from repobus.cli.runner import dispatch
    from repobus.cli.spec import defaults

    if tool not in TOOLS:
        sys.stderr.write(f"error: unknown tool {tool!r}; known: {', '.join(TOOLS)}\n")
        return 2
    plan = _plan(tool, list(argv))
    if isinstance(plan, int):
        return plan
    code = 0
    for name, given in plan:
        if name.startswith("@"):
            from repobus.cli import compat_sessions

            return compat_sessions.run(name[1:], given, root)
        values = defaults(TABLE[name])
        values.update({k: v for k, v in given.items() if v is not None or k not in values})
        values["repo"] = str(root) if root is not None else None
        values["compat"] = tool
        code = _exit_code(dispatch(TABLE[name], values))
        if code:
            return code
    return code


def main(argv: list[str] | None = None) -> int:
    """`python -m repobus.cli.compat TOOL ARGS...` (what the shims do, without a shim)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(
            f"usage: python -m repobus.cli.compat TOOL [ARGS...]; TOOL is one of "
            f"{', '.join(TOOLS)}\n"
        )
        return 2
    return run(args[0], args[1:], None)


if __name__ == "__main__":
    sys.exit(main())
