"""What runs around every command: the session guard before a bus write (when the
repository's policy asks for it) and the `_bus/` mirror refresh after a command succeeded.
Both rules live in the use-case layer (playbook/doors.py, which the MCP server and the
dashboard call too); this module says which commands they apply to and when.

A failed command writes nothing, so the mirror is refreshed only after success; a mirror
that cannot be refreshed never fails the command (a warning goes to stderr).

Identity: a command runs as the process's own agent - `REPOBUS_AGENT`, else the worktree's
manifest (`AGENT_MANIFEST.json`, and its variants `AGENT_MANIFEST.<id>.json`, which are
identities of this worktree too).  `--agent` naming someone else, when the worktree names an
agent, acts for that agent: allowed (a person at a terminal is trusted as the CLI always
was), and recorded like every door's act for another (playbook/doors.py `Acting`: `by` is the
process's own agent, plus an `acted_for` event).  Without a manifest or `REPOBUS_AGENT`,
`--agent` is simply who acts, as the original tools had it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.playbook.doors import Acting, Door

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


def allow_stale(ctx: Any) -> bool:
    """The override of a stale session: --allow-stale-session, or REPOBUS_ALLOW_STALE_SESSION
    in the environment (which `repobus mcp` and `repobus serve` pass on to their writes)."""
    return (
        bool(ctx.values.get("allow_stale_session"))
        or ctx.env.get("REPOBUS_ALLOW_STALE_SESSION", "").strip().lower() in _TRUE
    )


def door(ctx: Any) -> Door:
    """The command's call through the use-case layer (playbook/doors.py), made on first use:
    the handler's writes and these hooks share it, so the writer is admitted once and the
    mirror refreshed once."""
    got: Door | None = vars(ctx).get("_door")
    if got is None:
        from repobus.playbook.doors import Door

        got = Door(
            ctx.bus(),
            context=ctx.values.get("compat") or f"repobus {ctx.command}",
            max_age=ctx.values.get("session_max_age"),
            allow_stale=allow_stale(ctx),
            acting=acting(ctx),
        )
        vars(ctx)["_door"] = got
    return got


def acting(ctx: Any) -> Acting | None:
    """Who really runs a command whose `--agent` names an agent this worktree does not: the
    process's own agent (`REPOBUS_AGENT`, else the manifest's); None when `--agent` is absent,
    names one of the worktree's identities, or the worktree names none."""
    given = str(ctx.values.get("agent") or "").strip()
    if not given:
        return None
    from repobus.playbook import session
    from repobus.playbook.doors import Acting
    from repobus.records import names

    env = ctx.env.get("REPOBUS_AGENT", "").strip()
    root = ctx.bus().repo.root
    own = [names.agent_id(env)] if env else session.known_agents(root)
    actor = names.agent_id(env) if env else session.manifest_agent(root)
    if actor is None or names.agent_id(given) in own:
        return None
    return Acting(
        names.agent_id(actor),
        allowed=True,
        hint="act as yourself (leave out --agent), or write AGENT_MANIFEST.<id>.json",
    )


# Commands that leave lines appended by hand to `_bus/` where they are (playbook/intake.py):
# `check` reports them, `mirror --rebuild` drops them, a hook never fails a push for them.
KEEPS_LINES = BEFORE_SETUP | {"check", "mirror", "hook pre-push"}
# Commands that take the lines in after they ran: boot makes the session the writes need.
LATE = frozenset({"boot"})


def take_in(ctx: Any) -> None:
    """Lines appended by hand to the worktree's `_bus/` mirror go on the bus, as the
    process's own agent (or the command fails naming the line)."""
    if not _may_wait(ctx.values.get("repo")):
        return
    from repobus.playbook import intake

    quiet = intake.Quiet(
        ctx.bus(),
        context=f"repobus {ctx.command} (lines appended to _bus/)",
        max_age=ctx.values.get("session_max_age"),
        allow_stale=allow_stale(ctx),
    )
    edited = intake.take_in(ctx.bus(), quiet, ctx.env.get("REPOBUS_AGENT"))
    for rel in edited:
        ctx.note(f"warning: {intake.edited_note(rel)}")
    vars(ctx)["_edited"] = edited  # restored after the command succeeded


def _restore(ctx: Any) -> None:
    """The mirror files edited by hand, written again from the bus (the command succeeded)."""
    edited = vars(ctx).get("_edited")
    if not edited:
        return
    from repobus.playbook import intake

    try:
        for text in intake.restore(ctx.bus(), edited):
            ctx.note(f"note: {text}")
    except Exception as exc:  # the mirror is a convenience: never fail the command for it
        _warn(ctx, exc, f"the _bus/ mirror was not restored: {exc}")


def _may_wait(path: str | None) -> bool:
    """Whether a line may wait in the mirror of the worktree at `path` (the current
    directory when None), from a `stat` per mirrored log file and the light modules the lean
    path uses, before anything opens the bus: False without a repository this recognises,
    without a mirror, or when its log files are as the mirror left them."""
    from repobus.git import config, fingerprint, policy

    found = config.find(path)
    if found is None or found.cfg.backend == "dir" or not policy.mirror_applies(found.cfg):
        return False
    return not fingerprint.mirror_files_current(found.root, found.git_dir)


def before(cmd: Any, ctx: Any) -> None:
    if ctx.values.get("manager") and not ctx.values.get("agent"):
        ctx.values["agent"] = ctx.values["manager"]  # assign/report: --manager acts as --agent
    if cmd.name not in KEEPS_LINES | LATE:
        take_in(ctx)
    if not needs_session(cmd.name, ctx.values):
        return
    # The guard runs before the handler reads its own options, so a write without a session
    # is refused as such whatever else is wrong with it; the handler's use case then finds
    # its writer admitted and does not judge (or record) it twice.
    call = door(ctx)
    if call.guarded():
        agent = ctx.agent()
        call.admit(call.for_other(agent) or agent)  # the guard judges whoever really acts


def after(cmd: Any, ctx: Any, code: int) -> None:
    if code != 0 or cmd.name in ("demo",):
        return
    from repobus.errors import SetupError

    try:
        call = door(ctx)
    except SetupError:
        return
    except Exception as exc:  # the mirror is a convenience: never fail the command for it
        _warn(ctx, exc, f"the _bus/ mirror was not refreshed: {exc}")
        return
    if cmd.name in LATE:
        _take_in_late(ctx)
    _restore(ctx)
    call.finish()  # a no-op when the command's write already refreshed it
    for failure, text in zip(call.failures, call.warnings, strict=True):
        _warn(ctx, failure, text)


def _take_in_late(ctx: Any) -> None:
    """After a command that succeeded: a line refused is said, and the next command fails
    on it; the command's own success stands."""
    from repobus.errors import BusError

    try:
        take_in(ctx)
    except BusError as exc:
        ctx.note(f"warning: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""))


def _warn(ctx: Any, exc: Exception, text: str) -> None:
    ctx.note(f"warning: {text}")
    if ctx.values.get("debug"):
        import traceback

        traceback.print_exception(exc, file=ctx.err)
