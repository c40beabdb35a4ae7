"""sync and doctor."""

from __future__ import annotations

from repobus.cli.runner import Ctx
from repobus.errors import ConflictError, SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _remote_store(ctx: Ctx) -> Any:
    bus = ctx.bus()
    if ctx.values.get("remote"):
        from repobus.store import open_store

        # --remote NAME: the git backend with that remote as the arbiter, whatever the
        # clone's own settings name
        bus.store = open_store(bus.repo, bus.cfg.replace(remote=ctx.remote), backend="git")
    if bus.store.remote_name is None:
        raise SetupError(
            "no remote configured for the bus",
            hint="run `repobus init --remote origin` (or pass --remote NAME)",
        )
    return bus.store


def sync(ctx: Ctx) -> int:
    from repobus.errors import RemoteError

    store = _remote_store(ctx)
    tty = ctx.err.isatty() and not ctx.json
    if tty:
        ctx.err.write(f"Syncing the bus with {store.remote.name}…\n")
    try:
        report = store.sync()
    except RemoteError:
        if store.last_report is not None and not ctx.json:
            ctx.err.write(_sync_text(store.last_report) + "\n")
        raise
    ctx.emit(report.as_dict(), _sync_text(report))
    for why in report.refused.values():
        ctx.err.write(f"error: {why}\n")
    if report.lost:
        detail = "; ".join(f"{ref} is held by {who}" for ref, who in report.lost.items())
        raise ConflictError(
            f"offline change lost to another agent: {detail}",
            hint="your local copy now shows the winner; pick another task",
        )
    return 1 if report.refused else 0


def archive(ctx: Ctx) -> int:
    """Move the finished slots into the archive now (the first time on a remote)."""
    from repobus.store.archive import REF

    store = ctx.bus().store
    if store.refs_root is None:
        ctx.emit(
            {"archived": 0, "ref": None},
            "nothing to archive: this backend keeps each claim as a file under _bus/",
        )
        return 0
    tty = ctx.err.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            ctx.err.write(f"\rarchived {done}/{total} finished claims and assignments")
            ctx.err.flush()

    if tty:
        ctx.err.write("Archiving finished claims and assignments…\n")
    moved = store.archive_finished(force=True, progress=progress)
    if tty and moved:
        ctx.err.write("\n")
    where = f" on remote '{store.remote_name}' and here" if store.remote_name else ""
    ctx.emit(
        {"archived": moved, "ref": REF, "remote": store.remote_name},
        f"archived {moved} finished claim(s) and assignment(s) into {REF}{where}",
    )
    return 0


def _sync_text(report: Any) -> str:
    lines = [
        f"fetched {len(report.fetched)} ref(s), pushed {len(report.pushed)}, "
        f"confirmed {len(report.confirmed)} offline change(s)"
    ]
    lines += [f"re-chained local records of {r} on top of the remote's" for r in report.rechained]
    lines += [f"queued (not pushed): {r}" for r in report.queued]
    return "\n".join(lines)


def doctor(ctx: Ctx) -> int:
    from repobus.checks.doctor import diagnose

    bus = ctx.bus()
    findings = diagnose(bus, fix=ctx.fix)
    bad = [f for f in findings if f["level"] == "problem"]
    text = "\n".join(
        f"{'✗' if f['level'] == 'problem' else ('!' if f['level'] == 'warning' else '✓')} "
        f"{f['check']}: {f['detail']}"
        for f in findings
    )
    ctx.emit({"ok": not bad, "findings": findings}, text)
    return 1 if bad else 0
