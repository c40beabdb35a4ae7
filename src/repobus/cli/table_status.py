"""The `status` command's specification, alone: the command table lists it, and the lean path
(cli/lean.py) parses `status` with it without importing the rest of the table.

Invariant: this module imports nothing but cli/spec.py and records/shown.py (the page size;
both import-free), so the lean path stays light.
"""

from __future__ import annotations

from repobus.cli.spec import Command, Opt
from repobus.records.shown import PAGE_SIZE

STATUS = Command(
    "status",
    "Claims with their leases, and the latest events.",
    "repobus.cli.cmd_events:status",
    opts=(
        Opt("--limit", "int", default=10, metavar="N"),
        Opt("--agent", "multi", metavar="ID", help="Only this agent (repeatable)."),
        Opt("--active-only", "flag", help="Only live claims (active, paused, held)."),
        Opt(
            "--since",
            metavar="WHEN",
            help="Events since WHEN, and claims finished since WHEN (default: the last 24h): "
            "an ISO time or a duration like 7d.",
        ),
        Opt("--all", "flag", help="Every claim ever made, finished ones included (paged)."),
        Opt("--page-size", "int", default=PAGE_SIZE, metavar="N", help="Claims per page."),
        Opt("--cursor", metavar="TOKEN", help="Continue a listing: the next_cursor of a page."),
        Opt("--fetch", "flag", help="Fetch other machines' records from the remote first."),
    ),
    reads=True,
    needs_agent=False,
    examples=(
        "repobus status --limit 20 --agent codex-2 --active-only",
        "repobus status --json",
        "repobus status --json --all --page-size 100",
        "repobus status --since 7d",
    ),
)
