"""The dashboard's Starlette app and its uvicorn server: routes over `web.data` and `bus`.

Invariants:
- bus calls run in worker threads, one at a time (a lock), never on the event loop;
- `/sse` sends `event: change` whenever a ref or file of the bus moves (polled cheaply through
  the store's signature), so pages update without reload;
- a write (POST /act/pause|release|send) happens only when the server allows writes and the
  request carries the start-up token (form field `token` or `Authorization: Bearer`);
  otherwise it is refused with 403 and nothing is written;
- an allowed write goes through the use cases every door shares (playbook/doors.py): the
  session guard judges the dashboard's agent at each write, the `_bus/` mirror is refreshed
  after it (a failed refresh comes back as `warnings`, never as a failed write);
- bound to loopback, only loopback Host headers are served (no DNS rebinding).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from repobus.bus import Bus
from repobus.errors import BusError, UsageError
from repobus.playbook import doors
from repobus.records import names
from repobus.web import data, pages

POLL = 0.25  # seconds between signature checks in /sse
KEEPALIVE = 15.0
MAX_BODY = 64 * 1024
WATCHED = ("events", "claims", "messages", "assignments")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATUS = {"usage": 400, "not_found": 404, "conflict": 409, "stale_token": 409, "not_set_up": 503}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A write without writes enabled, or without the right token."""


@dataclass
class Dashboard:
    bus: Bus
    allow_writes: bool = False
    token: str | None = None
    agent: str = "human"
    lock: threading.Lock = field(default_factory=threading.Lock)
    allow_stale: bool = False  # REPOBUS_ALLOW_STALE_SESSION at start: writes pass a stale session

    async def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        def locked() -> Any:
            with self.lock:
                return fn(*args, **kw)

        return await run_in_threadpool(locked)

    def frame(self, request: Request) -> pages.Frame:
        msg = request.query_params.get("msg")
        return pages.Frame(self.allow_writes, self.agent if self.allow_writes else None, msg)

    def signature(self) -> dict[str, Any]:
        store = self.bus.store
        return {k: store.signature(k) for k in WATCHED}

    # -- pages ---------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        d = await self.call(data.overview, self.bus)
        frame = self.frame(request)
        body = "<h1>Overview</h1>" + pages.live("/part/overview", pages.overview_part(d, frame))
        return html(pages.page("overview", "overview", frame, body))

    async def overview_part(self, request: Request) -> Response:
        d = await self.call(data.overview, self.bus)
        return html(pages.overview_part(d, self.frame(request)))

    async def events(self, request: Request) -> Response:
        f = data.Filters.parse(dict(request.query_params))
        recs, older = await self.call(data.stream, self.bus, f)
        body = pages.events_page(f, recs, older, self.bus.clock())
        return html(pages.page("events", "events", self.frame(request), body))

    async def events_part(self, request: Request) -> Response:
        f = data.Filters.parse(dict(request.query_params))
        recs, older = await self.call(data.stream, self.bus, f)
        return html(pages.events_section(f, recs, older, self.bus.clock()))

    async def task(self, request: Request) -> Response:
        d = await self.call(data.task, self.bus, request.path_params["task"])
        frame = self.frame(request)
        return html(pages.page(f"task {d['task_id']}", "", frame, pages.task_page(d, frame)))

    async def task_part(self, request: Request) -> Response:
        d = await self.call(data.task, self.bus, request.path_params["task"])
        return html(pages.task_part(d, self.frame(request)))

    async def report(self, request: Request) -> Response:
        rep = await self.call(data.latest_report, self.bus)
        return html(
            pages.page("manager report", "report", self.frame(request), pages.report_page(rep))
        )

    async def api_overview(self, request: Request) -> Response:
        return JSONResponse(await self.call(data.overview, self.bus))

    async def sse(self, request: Request) -> Response:
        async def changes() -> AsyncIterator[str]:
            sig = await self.call(self.signature)
            yield "retry: 2000\n: connected\n\n"
            idle = 0.0
            while True:
                await anyio.sleep(POLL)
                now = await self.call(self.signature)
                if now != sig:
                    kinds = [k for k in WATCHED if now[k] != sig[k]]
                    sig, idle = now, 0.0
                    yield f"event: change\ndata: {json.dumps({'kinds': kinds})}\n\n"
                else:
                    idle += POLL
                    if idle >= KEEPALIVE:
                        idle = 0.0
                        yield ": keepalive\n\n"

        return StreamingResponse(
            changes(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- writes --------------------------------------------------------------------------
    async def act(self, request: Request) -> Response:
        form = await read_form(request)
        self.authorise(request, form)
        action = request.path_params["action"]
        rec, warnings = await self.call(self.write, action, form)
        text = f"{action} {rec.get('task_id')}: done as {self.agent}"
        text += "".join(f"; warning: {w}" for w in warnings)
        if wants_json(request):
            body = {"ok": True, "action": action, "record": rec}
            return JSONResponse({**body, "warnings": warnings} if warnings else body)
        back = form.get("next", "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}msg={quote(text)}", status_code=303)

    def authorise(self, request: Request, form: dict[str, str]) -> None:
        if not self.allow_writes or not self.token:
            raise Refused(
                "this dashboard is read-only: restart it with `repobus serve "
                "--allow-writes` to pause, release or post from the page"
            )
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else form.get("token", "")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            raise Refused(
                "refused: this write needs the token printed when the dashboard "
                "started (paste it into the token box)"
            )

    def write(self, action: str, form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """One write through the use cases every door shares (playbook/doors.py): the
        session guard judges this dashboard's agent, and the `_bus/` mirror is refreshed;
        returns the record and the warnings (a mirror that could not be refreshed)."""
        me = self.agent
        task = names.task_id(form.get("task", ""))
        notes = form.get("notes", "").strip()
        if action not in ("pause", "release", "send"):
            raise UsageError(f"unknown action {action!r}: pause, release or send")
        call = doors.Door.serving(self.bus, "repobus serve", action, allow_stale=self.allow_stale)
        if action == "pause":
            # a person with the dashboard's token overrules the holder: recorded, holder told
            why = f"paused from the dashboard by {me}"
            slot = doors.pause(call, me, task, notes=notes, force=True, reason=why)
        elif action == "release":
            status = form.get("status") or "released"
            slot = doors.operator_release(
                call, me, task, status=status, notes=notes, where="the dashboard"
            )
        else:
            to = form.get("to", "").strip() or None
            kind = form.get("type", "").strip() or "comment"
            entry = doors.send(call, me, task, kind, form.get("summary", ""), to=to)
            return entry.record, call.warnings
        return slot.record, call.warnings


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def read_form(request: Request) -> dict[str, str]:
    """Form fields of a urlencoded or JSON body (no multipart: nothing here uploads)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise UsageError("request body too large")
    text = body.decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            got = json.loads(text or "{}")
        except ValueError:
            raise UsageError("request body is not JSON") from None
        return {str(k): str(v) for k, v in got.items()} if isinstance(got, dict) else {}
    return dict(parse_qsl(text, keep_blank_values=True))


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(dash: Dashboard, fn: Endpoint) -> Endpoint:
    """Turn bus errors and refusals into pages (or JSON) with the right status."""

    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except Refused as exc:
            status, kind, message, hint = 403, "refused", str(exc), None
        except BusError as exc:
            status, kind = STATUS.get(exc.kind, 500), exc.kind
            message, hint = exc.message, exc.hint
        if wants_json(request):
            return JSONResponse(
                {"error": message, "kind": kind, "code": status}, status_code=status
            )
        body = pages.error_body(status, message, hint)
        return html(pages.page("error", "", dash.frame(request), body), status)

    return endpoint


def create_app(dash: Dashboard, *, host: str = "127.0.0.1") -> Starlette:
    def g(fn: Endpoint) -> Endpoint:
        return guarded(dash, fn)

    routes = [
        Route("/", g(dash.overview)),
        Route("/part/overview", g(dash.overview_part)),
        Route("/events", g(dash.events)),
        Route("/part/events", g(dash.events_part)),
        Route("/task/{task}", g(dash.task)),
        Route("/part/task/{task}", g(dash.task_part)),
        Route("/report", g(dash.report)),
        Route("/api/overview", g(dash.api_overview)),
        Route("/sse", dash.sse),
        Route("/act/{action}", g(dash.act), methods=["POST"]),
    ]
    middleware = []
    if host in LOOPBACK:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK)))
    return Starlette(routes=routes, middleware=middleware)


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so the real port (with --port 0) can be printed first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def serve(app: Starlette, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    uvicorn.Server(config).run(sockets=[sock])
