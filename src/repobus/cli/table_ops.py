"""Operations on the bus as a whole: the derived index, importing a tracked `_bus/`."""

from __future__ import annotations

from repobus.cli.spec import Command, Opt

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
    Command(
        "import",
        "Import a tracked _bus/ (the original tools' or the dir backend's) into the git bus.",
        "repobus.cli.cmd_admin:import_bus",
        opts=(
            Opt("--from", metavar="DIR", help="The _bus/ folder to read (default: _bus)."),
            Opt("--dry-run", "flag", help="Count what would be imported; write nothing."),
        ),
        needs_agent=False,
        doc="Every claim (with its history when the folder keeps one), assignment, event and "
        "message is kept as written - timestamps, ids, agents, extra fields - plus an "
        "`imported` field naming its file and line; messages without a task_id keep their "
        "lane. One atomic write; running it again imports nothing twice. The import event "
        "anchors every log file read, so `repobus verify` names a later edit or drop of an "
        "imported line. Exit 1 when a record had to be skipped (each named).",
        examples=("repobus import", "repobus import --dry-run", "repobus import --from old/_bus"),
    ),
]
