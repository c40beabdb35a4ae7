"""Operations on the derived index."""

from __future__ import annotations

from repobus.cli.spec import Command

COMMANDS = [
    Command(
        "reindex",
        "Rebuild the derived index (SQLite in the git common dir) from the refs.",
        "repobus.cli.cmd_ops:reindex",
        needs_agent=False,
        reads=True,
        doc="The index caches the merged view behind status, watch, report, queue and check; "
        "every read catches it up with the refs that moved, so this is never needed for "
        "correctness. It deletes the index and rebuilds it from scratch, with a progress "
        "line on a terminal.",
        examples=("repobus reindex", "repobus reindex --json"),
    ),
]
