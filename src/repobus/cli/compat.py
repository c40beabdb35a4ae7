"""The original `tools/agent/*.py` command lines (FORMATS §1-§19), handed to repobus.

Each tool's flags are parsed as the original parsed them (argparse: usage errors exit 2),
translated to one repobus command, and run through the same dispatch as `repobus` itself
(identity, session guard, mirror).  Exit codes follow the originals: 0 ok, 2 usage, 1 for
every refusal (repobus's finer codes 3-6 become 1), 130 interrupted, 70 a bug.  Messages keep
the original substrings (`agent id required`, `claimed by`, `agent mismatch`,
`session guard`, ...).
"""

from __future__ import annotations

import sys
from pathlib import Path

from repobus.cli import compat_bus as bus_tools
from repobus.cli import compat_manager as manager_tools
from repobus.cli.compat_base import Refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]

TOOLS: dict[str, Callable[[list[str]], Plan]] = {
    "bus_claim": bus_tools.bus_claim,
    "bus_event": bus_tools.bus_event,
    "bus_message": bus_tools.bus_message,
    "bus_status": bus_tools.bus_status,
    "bus_watch": bus_tools.bus_watch,
    "bus_inbox": bus_tools.bus_inbox,
    "bus_heartbeat": manager_tools.bus_heartbeat,
    "stale_claims": manager_tools.stale_claims,
    "session_boot": manager_tools.session_boot,
    "task_assign": manager_tools.task_assign,
    "manager_report": manager_tools.manager_report,
    "manifest_helper": manager_tools.manifest_helper,
}


def _exit_code(code: int) -> int:
    return 1 if code in (3, 4, 5, 6) else code


def run(tool: str, argv: list[str], root: Path | str | None = None) -> int:
    """Run the original tool `tool` with `argv` against the repository at `root`."""
    from repobus.cli.commands import TABLE
    from repobus.cli.runner import dispatch
    from repobus.cli.spec import defaults

    parse = TOOLS.get(tool)
    if parse is None:
        sys.stderr.write(f"error: unknown tool {tool!r}; known: {', '.join(TOOLS)}\n")
        return 2
    try:
        plan = parse(list(argv))
    except SystemExit as exc:  # argparse: usage error (2) or --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    except Refusal as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
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
