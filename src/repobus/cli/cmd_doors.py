"""serve, mcp: load the extra (exit 5 when it is missing), then hand the bus to it."""

from __future__ import annotations

import importlib
import os
import secrets
from types import ModuleType

from repobus.cli.lifecycle import allow_stale
from repobus.cli.runner import Ctx
from repobus.errors import SetupError, UsageError


def _extra(module: str, extra: str, packages: tuple[str, ...]) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in packages:
            raise
        raise SetupError(
            f"the {extra} extra is not installed: pip install '/path/to/repobus[{extra}]' "
            f"(a clone of repobus) or 'repobus[{extra}] @ git+https://<repobus-url>'",
            hint=f"missing Python package {exc.name!r} (docs/playbook.md, Set up)",
        ) from None


def _writer(ctx: Ctx) -> str:
    try:
        return str(ctx.agent())
    except SetupError:
        return "human"


def serve(ctx: Ctx) -> int:
    app = _extra("repobus.web.app", "web", ("starlette", "uvicorn", "anyio"))
    if not 0 <= ctx.port <= 65535:
        raise UsageError(f"--port must be 0-65535, got {ctx.port}")
    app.check_bind(ctx.host, ctx.flag("allow_remote"))  # before anything is opened or bound
    bus = ctx.bus()
    remote = not app.is_loopback(ctx.host)
    token = secrets.token_urlsafe(24) if ctx.allow_writes or remote else None
    dash = app.Dashboard(
        bus,
        allow_writes=ctx.allow_writes,
        token=token,
        agent=_writer(ctx) if ctx.allow_writes else "human",
        allow_stale=allow_stale(ctx),  # REPOBUS_ALLOW_STALE_SESSION, as for the CLI
    )
    try:
        sock = app.bind(ctx.host, ctx.port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {ctx.host}:{ctx.port}: {exc.strerror or exc}",
            hint="pick another --port, or 0 for a free one",
        ) from None
    host, port = sock.getsockname()[:2]
    access = app.access(ctx.host, host, port, ctx.texts("allow_host"), token if remote else None)
    url = f"http://{app.url_host(host)}:{port}/"
    info = {
        "url": url,
        "host": host,
        "port": port,
        "writes": ctx.allow_writes,
        "agent": dash.agent if ctx.allow_writes else None,
        "token": token,
        "remote": remote,
        "hosts": sorted(access.hosts),
    }
    mode = "writes as " + dash.agent if ctx.allow_writes else "read-only"
    text = f"repobus dashboard: {url} ({mode}{', token needed to read' if remote else ''})"
    if token:
        text += f"\n{'token' if remote else 'write token'}: {token}"
        text += f"\nopen with the token: {url}?token={token}"
    ctx.emit(info, text)
    if remote:
        ctx.note(f"warning: serving on {host}, reachable from other machines (token required)")
    app.serve(app.create_app(dash, access), sock)
    return 0


def mcp(ctx: Ctx) -> int:
    """Serve MCP on stdio.  The bus is opened by the server (at start, and at each call until
    it opens), so a server started outside a repository still completes the handshake and
    answers every tool with not_set_up instead of exiting before the client can hear why."""
    server = _extra("repobus.mcp.server", "mcp", ("mcp", "mcp_types", "pydantic", "anyio"))
    repo = ctx.values.get("repo") or ctx.env.get("REPOBUS_REPO", "").strip() or None
    ctx.values["repo"] = repo
    server.build(
        ctx.bus,
        agent=ctx.values.get("agent"),
        env_agent=ctx.env.get("REPOBUS_AGENT"),
        allow_stale=allow_stale(ctx),
        allow_act_as=ctx.flag("allow_act_as"),
        where=str(repo or os.getcwd()),
    ).run("stdio")
    return 0
