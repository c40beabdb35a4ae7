"""Commands for working across machines: sync, archive, doctor."""

from __future__ import annotations

from repobus.cli.spec import Command, Opt

COMMANDS = [
    Command(
        "sync",
        "Fetch and push the bus: confirm offline changes, push queued records.",
        "repobus.cli.cmd_remote:sync",
        needs_agent=False,
        reads=True,
        opts=(Opt("--remote", metavar="NAME", help="Remote to sync with (default: configured)."),),
        doc="Fetch every bus ref from the remote (a rewritten remote ref is refused and named), "
        "fast-forward the local bus, re-chain local-only records on top, push queued events "
        "and messages, and confirm or reject changes recorded with --offline. Exit 3 when an "
        "offline claim lost to another agent, 1 when the remote rewrote history, 6 when the "
        "remote is unreachable.",
        examples=("repobus sync", "repobus sync --json"),
    ),
    Command(
        "archive",
        "Move finished claims out of the refs every push and fetch pays for.",
        "repobus.cli.cmd_remote:archive",
        needs_agent=False,
        doc="Claims released or done, and their tasks' assignments, move from their own refs "
        "into one archive ref, refs/repobus/archive (docs/storage.md); status, history, "
        "verify, export, the mirror and check read them as before, and a task claimed again "
        "continues its chain and fencing token. A local bus does this by itself, in batches; "
        "with a remote, run it once (it makes the archive on the remote, and from then on "
        "every clone moves finished work in batches) after every clone runs this version.",
        examples=("repobus archive", "repobus archive --json"),
    ),
    Command(
        "doctor",
        "Check the set-up: git, config, refspecs, locks, clock skew.",
        "repobus.cli.cmd_remote:doctor",
        needs_agent=False,
        reads=True,
        opts=(Opt("--fix", "flag", help="Fix what is safe (stale locks, missing refspec)."),),
        examples=("repobus doctor", "repobus doctor --fix"),
    ),
]
