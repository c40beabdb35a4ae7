"""boot, manifest list|use|restore."""

from __future__ import annotations

import io

from repobus.cli.runner import Ctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _confidence(ctx: Ctx) -> float | None:
    from repobus.errors import UsageError

    raw = ctx.values.get("confidence")
    if raw is None:
        if ctx.values.get("confidence_note"):
            raise UsageError("--confidence-note requires --confidence")
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"--confidence must be a number between 0.0 and 1.0, got {raw!r}")
    return value


def _bus_sync(ctx: Ctx) -> str | None:
    """Run `repobus sync` when the repository has one (a remote bus); its first line."""
    from repobus.cli.commands import TABLE
    from repobus.cli.runner import dispatch
    from repobus.cli.spec import defaults

    cmd = TABLE.get("sync")
    if cmd is None or ctx.bus().store.remote_name is None:
        return None
    values = defaults(cmd)
    values["repo"] = ctx.values.get("repo")
    buf = io.StringIO()
    code = dispatch(cmd, values, ctx.env, buf, buf)
    first = next((ln for ln in buf.getvalue().splitlines() if ln.strip()), "done")
    return first if code == 0 else f"warning: bus sync failed (exit {code}): {first}"


def boot(ctx: Ctx) -> int:
    from repobus.playbook import boot as b

    bus = ctx.bus()
    agent = ctx.agent()
    confidence = _confidence(ctx)
    wrap = bool(ctx.wrap) or b.is_wrap(ctx.summary)
    summary = "session wrap" if ctx.wrap and ctx.summary == "Session handshake" else ctx.summary
    synced, bus_synced = None, None
    if not ctx.no_sync:
        synced = b.sync_git(bus.repo, bool(ctx.allow_dirty))
        bus_synced = _bus_sync(ctx)
    res = b.boot(
        bus,
        agent,
        now=bus.clock(),
        summary=summary or "Session handshake",
        focus=ctx.focus,
        announce=not ctx.no_announce,
        wrap=wrap,
        tail_count=ctx.tail_count,
        confidence=confidence,
        confidence_note=ctx.values.get("confidence_note"),
    )
    data: dict[str, Any] = {
        "agent": agent,
        "branch": res.branch,
        "handshake": res.handshake,
        "peers": res.peers,
        "receipt": res.receipt,
        "captured_at": res.captured_at,
        "closed": res.closed,
        "sync": None if synced is None else {"action": synced.action, "detail": synced.detail},
        "bus_sync": bus_synced,
        "warnings": res.warnings,
    }
    lines = [f"Sync: {synced.action} — {synced.detail}" if synced else "Sync: skipped (--no-sync)"]
    if bus_synced:
        lines.append(f"Bus sync: {bus_synced}")
    if res.handshake:
        lines.append(f"Logged handshake for {agent} (branch prefix agent/{agent}/)")
    lines += _peer_lines(res.peers)
    lines.append(f"Session receipt: {res.receipt} (captured_at={res.captured_at})")
    if res.closed:
        lines.append("Session wrapped: the next bus write needs a new `repobus boot`.")
    lines += [f"warning: {w}" for w in res.warnings]
    if ctx.values.get("with_status") and not ctx.json:
        from repobus.views import overview as views

        lines += ["", views.status_text(views.status(bus, limit=10))]
    ctx.emit(data, "\n".join(lines))
    return 0


def _peer_lines(peers: list[dict[str, Any]]) -> list[str]:
    if not peers:
        return ["Peers: none hold active or paused claims."]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for p in peers:
        grouped.setdefault(p["agent_id"], []).append(p)
    out = []
    for agent, rows in grouped.items():
        items = ", ".join(
            f"{r['task_id']}[{r['status']}]=@{r['branch']}{' (STALE)' if r['stale'] else ''}"
            for r in rows
        )
        out.append(f"Peer {agent}: {items} (last seen {rows[0]['last_seen'] or 'never'})")
    return out


def manifest_list(ctx: Ctx) -> int:
    from repobus.git import gitcmd
    from repobus.playbook import session

    root = gitcmd.discover(ctx.values.get("repo")).root
    active = session.manifest_agent(root)
    rows = [
        {
            "file": v.path.name,
            "agent_id": v.agent_id,
            "roles": list(v.roles),
            "active": v.agent_id is not None and v.agent_id == active,
        }
        for v in session.variants(root)
    ]
    text = (
        "\n".join(
            f"{'*' if r['active'] else ' '} {r['file']} (agent {r['agent_id'] or '?'})"
            for r in rows
        )
        or "No manifest variants (AGENT_MANIFEST.<id>.json)."
    )
    ctx.emit(
        {"active": active, "variants": rows}, f"AGENT_MANIFEST.json: {active or '(none)'}\n{text}"
    )
    return 0


def manifest_use(ctx: Ctx) -> int:
    from repobus.git import gitcmd
    from repobus.playbook import session

    root = gitcmd.discover(ctx.values.get("repo")).root
    done = session.use_variant(root, ctx.id, keep_backup=not ctx.no_backup)
    _exclude_backups(root)
    ctx.emit(
        done,
        f"Activated {done['variant']} → AGENT_MANIFEST.json (agent "
        f"{done['agent_id']})" + (f"; backup {done['backup']}" if done["backup"] else ""),
    )
    return 0


def manifest_restore(ctx: Ctx) -> int:
    from repobus.git import gitcmd
    from repobus.playbook import session

    root = gitcmd.discover(ctx.values.get("repo")).root
    done = session.restore(root)
    ctx.emit(done, f"Restored AGENT_MANIFEST.json from {done['backup']} (agent {done['agent_id']})")
    return 0


def _exclude_backups(root: Any) -> None:
    from repobus.git import gitcmd
    from repobus.git.ignore import ensure_excluded

    ensure_excluded(gitcmd.discover(root), "/.manifest_backups/")
