"""The `status` command's specification, alone: the command table lists it, and the lean path
(cli/lean.py) parses `status` with it without importing the rest of the table.

Invariant: this module imports nothing but cli/spec.py (itself import-free), so the lean path
stays light.
"""

from __future__ import annotations

from repobus.cli.spec import Command, Opt

STATUS = Command(
    "status",
    "Claims with their leases, and the latest events.",
    "repobus.cli.cmd_events:status",
    opts=(
        Opt("--limit", "int", default=10, metavar="N"),
        Opt("--agent", "multi", metavar="ID", help="Only this agent (repeatable)."),
        Opt("--active-only", "flag", help="Only active and paused claims."),
        Opt("--since", metavar="ISO"),
        Opt("--fetch", "flag", help="Fetch other machines' records from the remote first."),
    ),
    reads=True,
    needs_agent=False,
    examples=(
        "repobus status --limit 20 --agent codex-2 --active-only",
        "repobus status --json",
    ),
)
