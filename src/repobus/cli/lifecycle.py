"""What runs around every command: the session guard before a bus write (when the
repository's policy asks for it) and the `_bus/` mirror refresh after a command succeeded.

A failed command writes nothing, so the mirror is refreshed only after success; a mirror
that cannot be refreshed never fails the command (a warning goes to stderr).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Commands that write to the bus as an agent: they need a session when the guard is on.
GUARDED = frozenset({"claim", "renew", "pause", "release", "log", "send", "assign", "ack", "pr"})
_TRUE = ("1", "true", "yes", "on")

# Commands that must work in a clone that is not set up: they open the bus as it is.
BEFORE_SETUP = frozenset({"init", "doctor", "demo", "schema"})
# Commands that only read the bus (they may write local files: the mirror, a cursor, the
# index).  Every other command counts as a write: when a clone that is not set up cannot ask
# its remote whether it holds a bus, a write fails closed and a read goes on with a note.
READS = frozenset(
    {
        "status",
        "watch",
        "check",
        "verify",
        "export",
        "queue",
        "inbox",
        "manifest list",
        "manifest use",
        "manifest restore",
        "plan check",
        "mirror",
        "reindex",
        "hook pre-push",
    }
)


def _writes_with(name: str | None, values: dict[str, Any]) -> bool | None:
    """The commands that write only with some options (report, stale): whether they write
    now; None for every other command."""
    if name == "report":
        return bool(values.get("consensus") or values.get("log_heartbeat"))
    if name == "stale":
        return bool(values.get("release"))
    return None


def bus_access(command: str | None, values: dict[str, Any]) -> bool | None:
    """How `command` opens the bus: True writes, False reads, None before set-up."""
    if command in BEFORE_SETUP:
        return None
    writes = _writes_with(command, values)
    return command not in READS if writes is None else writes


def needs_session(name: str, values: dict[str, Any]) -> bool:
    return name in GUARDED or bool(_writes_with(name, values))


def before(cmd: Any, ctx: Any) -> None:
    if ctx.values.get("manager") and not ctx.values.get("agent"):
        ctx.values["agent"] = ctx.values["manager"]  # assign/report: --manager acts as --agent
    if not needs_session(cmd.name, ctx.values):
        return
    from repobus.git import policy

    bus = ctx.bus()
    if not policy.session_guard(bus.cfg):
        return
    from repobus.playbook import guard

    agent = ctx.agent()
    max_age = ctx.values.get("session_max_age") or bus.cfg.session_max_age
    if not isinstance(max_age, int) or max_age <= 0:
        from repobus.errors import UsageError

        raise UsageError(f"--session-max-age must be a positive number of seconds, got {max_age}")
    allow = (
        bool(ctx.values.get("allow_stale_session"))
        or ctx.env.get("REPOBUS_ALLOW_STALE_SESSION", "").strip().lower() in _TRUE
    )
    guard.ensure_recent_session(
        bus.repo.root,
        agent,
        now=bus.clock(),
        max_age=max_age,
        allow_stale=allow,
        context=ctx.values.get("compat") or f"repobus {cmd.name}",
    )


def after(cmd: Any, ctx: Any, code: int) -> None:
    if code != 0 or cmd.name in ("demo",):
        return
    try:
        from repobus.errors import SetupError
        from repobus.views import mirror

        try:
            bus = ctx.bus()
        except SetupError:
            return
        mirror.refresh(bus)
    except Exception as exc:  # the mirror is a convenience: never fail the command for it
        ctx.note(f"warning: the _bus/ mirror was not refreshed: {exc}")
        if ctx.values.get("debug"):
            import traceback

            traceback.print_exception(exc, file=ctx.err)
