"""The dashboard's Starlette app and its uvicorn server: routes over `web.data` and `bus`.

Invariants:
- bus calls run in worker threads, one at a time (a lock), never on the event loop;
- `/sse` sends `event: change` whenever a ref or file of the bus moves (polled cheaply through
  the store's signature), so pages update without reload;
- `/sse` never stays silent longer than HEARTBEAT seconds (`event: beat`), and says so in its
  first message (`event: hello`), so a page can tell a live stream from a stalled one;
- a write (POST /act/pause|release|send) happens only when the server allows writes and the
  request carries the start-up token (form field `token` or `Authorization: Bearer`);
  otherwise it is refused with 403 and nothing is written;
- a pause or release posted by a page (token in the form) is written only with
  `confirm=yes`; without it the answer is a confirmation page re-posting the same fields (428
  for JSON) and nothing is written; a script's `Authorization: Bearer` write has decided;
- after a write the page's banner shows a message the server stored (`guard.Flashes`), found
  by a random id in the address; no text from the address is shown;
- an allowed write goes through the use cases every door shares (playbook/doors.py): the
  session guard judges the dashboard's agent at each write, the `_bus/` mirror is refreshed
  after it (a failed refresh comes back as `warnings`, never as a failed write);
- every request passes `guard.Guard` first: the Host check on every bind address, and the
  token for reads when other machines can reach the server.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
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
from repobus.web import data, guard, pages, paging
from repobus.web.guard import check_bind, is_loopback, url_host

__all__ = ["Dashboard", "access", "bind", "check_bind", "create_app", "is_loopback", "serve"]
__all__ += ["url_host"]

POLL = 0.1  # seconds between signature checks in /sse (two stat calls each)
HEARTBEAT = 5.0  # the longest /sse stays silent; the page's dot counts on it
MAX_BODY = 64 * 1024
WATCHED = ("events", "claims", "messages", "assignments")
CONFIRMED = ("pause", "release")  # writes a page must confirm (confirm=yes)
ECHOED = ("task", "notes", "status", "next", "token")  # fields a confirmation page re-posts
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
    flashes: guard.Flashes = field(default_factory=guard.Flashes)

    async def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        def locked() -> Any:
            with self.lock:
                return fn(*args, **kw)

        return await run_in_threadpool(locked)

    def frame(self, request: Request) -> pages.Frame:
        flash = self.flashes.get(request.query_params.get("flash"))
        text, error = flash if flash else (None, False)
        agent = self.agent if self.allow_writes else None
        return pages.Frame(self.allow_writes, agent, text, error)

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
        recs, older, newer = await self.call(self.event_listing, f)
        body = pages.events_page(f, recs, older, self.bus.clock(), newer)
        return html(pages.page("events", "events", self.frame(request), body))

    async def events_part(self, request: Request) -> Response:
        f = data.Filters.parse(dict(request.query_params))
        recs, older, newer = await self.call(self.event_listing, f)
        return html(pages.events_section(f, recs, older, self.bus.clock(), newer))

    def event_listing(self, f: data.Filters) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """A page of events (indexed), the cursor of the older page and of the newer one."""
        recs, older = data.stream(self.bus, f)
        return recs, older, paging.newer(self.bus, f)

    async def timeline(self, request: Request) -> Response:
        d = await self.call(self.timeline_data, request)
        body = pages.timeline_page(d, self.frame(request))
        return html(pages.page("timeline", "timeline", self.frame(request), body))

    async def timeline_part(self, request: Request) -> Response:
        return html(pages.timeline_part(await self.call(self.timeline_data, request)))

    def timeline_data(self, request: Request) -> dict[str, Any]:
        window = data.parse_window(request.query_params.get("window"))
        return data.timeline(self.bus, window, self.bus.clock())

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
        return StreamingResponse(
            self.changes(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def changes(self) -> AsyncIterator[str]:
        """`change` when a watched kind moved, else `beat` every HEARTBEAT seconds.  The
        signature is two stat calls: polled outside the bus lock, so a slow page does not
        delay the news."""
        sig = await run_in_threadpool(self.signature)
        yield f"retry: 2000\nevent: hello\ndata: {json.dumps({'heartbeat': HEARTBEAT})}\n\n"
        last = time.monotonic()
        while True:
            await anyio.sleep(POLL)
            now = await run_in_threadpool(self.signature)
            if now != sig:
                kinds = [k for k in WATCHED if now[k] != sig[k]]
                sig, last = now, time.monotonic()
                seen = {"kinds": kinds, "at": round(time.time(), 3)}  # when it was noticed
                yield f"event: change\ndata: {json.dumps(seen)}\n\n"
            elif time.monotonic() - last >= HEARTBEAT:
                last = time.monotonic()
                yield "event: beat\ndata: {}\n\n"

    # -- writes --------------------------------------------------------------------------
    async def act(self, request: Request) -> Response:
        form = await read_form(request)
        scripted = self.authorise(request, form)
        action = request.path_params["action"]
        if action in CONFIRMED and form.get("confirm") != "yes" and not scripted:
            return self.confirm(request, action, form)
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
        return RedirectResponse(f"{back}{sep}flash={self.flashes.put(text)}", status_code=303)

    def confirm(self, request: Request, action: str, form: dict[str, str]) -> Response:
        """Nothing written: the question, and a form posting the same fields + confirm=yes."""
        task = form.get("task", "")
        question = f"{action.capitalize()} {task} as {self.agent}?"
        if wants_json(request):
            why = f"{question} Post again with confirm=yes (nothing was written)."
            return JSONResponse({"error": why, "kind": "confirm", "code": 428}, status_code=428)
        kept = "".join(
            f'<input type="hidden" name="{k}" value="{pages.e(form[k])}">'
            for k in ECHOED
            if k in form
        )
        back = form.get("next", "/")
        back = back if back.startswith("/") and not back.startswith("//") else "/"
        body = (
            f"<h1>Confirm: {pages.e(question)}</h1><section><p>Nothing has been written yet."
            f"{' Notes: ' + pages.e(form['notes']) if form.get('notes') else ''}</p>"
            f'<form method="post" action="/act/{pages.e(action)}">{kept}'
            '<input type="hidden" name="confirm" value="yes">'
            f"<button>Yes, {pages.e(action)} {pages.e(task)}</button> "
            f'<a href="{pages.e(back)}">cancel</a></form></section>'
        )
        return html(pages.page("confirm", "", self.frame(request), body))

    def authorise(self, request: Request, form: dict[str, str]) -> bool:
        """Refused unless writes are on and the token matches; True when the token came in
        an `Authorization: Bearer` header (a script, not a page's form)."""
        if not self.allow_writes or not self.token:
            raise Refused(
                "this dashboard is read-only: restart it with `repobus serve "
                "--allow-writes` to pause, release or post from the page"
            )
        auth = request.headers.get("authorization", "")
        scripted = auth.lower().startswith("bearer ")
        given = auth[7:].strip() if scripted else form.get("token", "")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            raise Refused(
                "refused: this write needs the token printed when the dashboard "
                "started (paste it into the token box)"
            )
        return scripted

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


def create_app(dash: Dashboard, access: guard.Access) -> guard.ASGIApp:
    """The routes, behind the guard (Host names; the token for reads when remote)."""

    def g(fn: Endpoint) -> Endpoint:
        return guarded(dash, fn)

    routes = [
        Route("/", g(dash.overview)),
        Route("/part/overview", g(dash.overview_part)),
        Route("/events", g(dash.events)),
        Route("/part/events", g(dash.events_part)),
        Route("/task/{task}", g(dash.task)),
        Route("/part/task/{task}", g(dash.task_part)),
        Route("/timeline", g(dash.timeline)),
        Route("/part/timeline", g(dash.timeline_part)),
        Route("/report", g(dash.report)),
        Route("/api/overview", g(dash.api_overview)),
        Route("/sse", dash.sse),
        Route("/act/{action}", g(dash.act), methods=["POST"]),
    ]

    def refusal(status: int, message: str, hint: str | None) -> str:
        return pages.page("refused", "", pages.Frame(), pages.error_body(status, message, hint))

    return guard.Guard(Starlette(routes=routes), access, refusal)


def access(
    asked: str, bound: str, port: int, allow_hosts: list[str], read_token: str | None
) -> guard.Access:
    """Who the guard lets in: the Host names of this bind, and the token reads need (None
    on loopback)."""
    return guard.Access(guard.host_names(asked, bound, port, allow_hosts), port, read_token)


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so the real port (with --port 0) can be printed first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def serve(app: guard.ASGIApp, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    uvicorn.Server(config).run(sockets=[sock])
