"""The playbook's bare names (`bus_claim release --task T --status done`, `session_boot`, ...)
as console scripts: pyproject.toml's [project.scripts] points each at a function here.

Each function is `repobus.cli.compat.run(<its tool>, argv, root)`, the same hand-over as a
`tools/agent/<tool>.py` shim, so a bare name, a shim and `python -m repobus.cli.bare TOOL`
accept the same flags and give the same output and exit codes.  The repository is
$REPOBUS_REPO when set (a shim running under a Python without repobus hands over its own
root that way), else the one around the working directory.

Invariant: one function per name in compat's TOOLS, named as the tool.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "bus_claim",
    "bus_event",
    "bus_heartbeat",
    "bus_inbox",
    "bus_message",
    "bus_status",
    "bus_watch",
    "main",
    "manager_report",
    "manifest_helper",
    "session_boot",
    "stale_claims",
    "task_assign",
]


def _run(tool: str, argv: list[str] | None = None) -> int:
    from repobus.cli.compat import run

    root = os.environ.get("REPOBUS_REPO", "").strip() or None
    return run(tool, sys.argv[1:] if argv is None else argv, root)


def bus_claim() -> int:
    return _run("bus_claim")


def bus_event() -> int:
    return _run("bus_event")


def bus_message() -> int:
    return _run("bus_message")


def bus_status() -> int:
    return _run("bus_status")


def bus_watch() -> int:
    return _run("bus_watch")


def bus_inbox() -> int:
    return _run("bus_inbox")


def bus_heartbeat() -> int:
    return _run("bus_heartbeat")


def stale_claims() -> int:
    return _run("stale_claims")


def session_boot() -> int:
    return _run("session_boot")


def task_assign() -> int:
    return _run("task_assign")


def manager_report() -> int:
    return _run("manager_report")


def manifest_helper() -> int:
    return _run("manifest_helper")


def main(argv: list[str] | None = None) -> int:
    """`python -m repobus.cli.bare TOOL ARGS...`: what a shim runs under the Python that
    `repobus init --shims` recorded, when its own Python has no repobus."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        from repobus.cli.compat import TOOLS

        sys.stderr.write(
            f"usage: python -m repobus.cli.bare TOOL [ARGS...]; TOOL: {', '.join(TOOLS)}\n"
        )
        return 2
    return _run(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
