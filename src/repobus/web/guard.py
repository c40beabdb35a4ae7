"""Who may reach the dashboard, and what its flash banner may say.

Invariants:
- every request's `Host` header is one of `Access.hosts`, else 421 and nothing else runs (no
  DNS rebinding, whatever the bind address): a loopback bind answers to its own address and
  port (`[::1]:PORT` for ::1), plus `localhost:PORT` when that is the address localhost names
  (127.0.0.1, ::1); a wildcard bind (0.0.0.0, ::) to the loopback names of its family; any
  bind to the `--allow-host` names (NAME:PORT, and bare NAME for a proxy on its default port);
- a bind that is not loopback exists only with `allow_remote` (`check_bind`), and then every
  request - pages, parts, `/sse`, `/api` - presents the token: `?token=` (the answer sets an
  HttpOnly, SameSite=Strict cookie named for the port), that cookie, or
  `Authorization: Bearer`; else 401, compared in constant time;
- the flash banner shows only text the server stored in `Flashes` under a random id, for
  FLASH_TTL seconds: nothing of the address bar is ever shown.
No Starlette here: the guard is plain ASGI, so it wraps the event stream as well as pages.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from repobus.errors import UsageError

FLASH_TTL = 120.0  # seconds a flash id shows its message (a reload within it shows it again)
FLASH_MAX = 256  # flashes kept at once; the oldest go first
WILDCARD = {"0.0.0.0": ("127.0.0.1", "localhost"), "::": ("[::1]", "127.0.0.1", "localhost")}
LOCALHOST = ("127.0.0.1", "::1")  # the addresses the name localhost stands for

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Render = Callable[[int, str, str | None], str]


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse (exit 2) a bind other machines can reach unless the operator said so."""
    if is_loopback(host) or allow_remote:
        return
    raise UsageError(
        f"--host {host} is reachable from other machines: add --allow-remote to serve it "
        "(every page then needs the token printed at start)",
        hint="or bind loopback (the default, --host 127.0.0.1) and reach it through an ssh "
        "tunnel; --allow-host NAME names the Host a proxy or a LAN name sends",
    )


def _named(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


def host_names(asked: str, bound: str, port: int, extra: Iterable[str]) -> frozenset[str]:
    """The Host header values this server answers to (lower case)."""
    bases: list[str] = []
    if bound in WILDCARD:
        bases += WILDCARD[bound]
    else:
        bases += [_named(asked), _named(bound)]
        if bound in LOCALHOST:
            bases.append("localhost")
    names = {f"{b}:{port}" for b in bases}
    for name in extra:
        name = name.strip().lower()
        if not name:
            continue
        has_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
        names |= {name} if has_port else {name, f"{name}:{port}"}
    return frozenset(n.lower() for n in names)


def url_host(bound: str) -> str:
    """The host part of the address printed at start: one the Host check accepts."""
    return WILDCARD[bound][0] if bound in WILDCARD else _named(bound)


@dataclass(frozen=True)
class Access:
    """What the guard lets in: the Host names, and the token when reads need it."""

    hosts: frozenset[str]
    port: int
    read_token: str | None = None  # set for a bind other machines can reach

    @property
    def cookie(self) -> str:
        return f"repobus-{self.port}"

    def token_ok(self, given: str) -> bool:
        want = self.read_token or ""
        return bool(given) and secrets.compare_digest(given.encode(), want.encode())


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _presented(scope: Scope, headers: dict[str, str], cookie: str) -> tuple[str, bool]:
    """The token a request carries, and whether it came in the address (`?token=`)."""
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if query.get("token"):
        return query["token"], True
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:  # a malformed Cookie header is a request without the cookie
        return "", False
    morsel = jar.get(cookie)
    return (morsel.value if morsel else ""), False


class Guard:
    """ASGI middleware: the Host check for every request, the token for reads if remote."""

    def __init__(self, app: ASGIApp, access: Access, render: Render) -> None:
        self.app, self.access, self.render = app, access, render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "").lower()
        if host not in self.access.hosts:
            names = ", ".join(sorted(self.access.hosts))
            why = f"this dashboard does not answer to the host name {host or '(none)'!r}"
            hint = f"open it as one of: {names}; or restart it with --allow-host NAME"
            await self._refuse(send, 421, why, hint)
            return
        if self.access.read_token is None:
            await self.app(scope, receive, send)
            return
        given, in_query = _presented(scope, headers, self.access.cookie)
        if not self.access.token_ok(given):
            why = "this dashboard serves other machines: every page needs its token"
            hint = "open the address printed at start (…/?token=…) once; the browser keeps it"
            await self._refuse(send, 401, why, hint)
            return
        await self.app(scope, receive, self._with_cookie(send, given) if in_query else send)

    def _with_cookie(self, send: Send, token: str) -> Send:
        value = f"{self.access.cookie}={token}; Path=/; HttpOnly; SameSite=Strict"

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", value.encode())]
            await send(message)

        return sending

    async def _refuse(self, send: Send, status: int, why: str, hint: str) -> None:
        body = self.render(status, why, hint).encode("utf-8")
        head = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        head.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})


class Flashes:
    """Messages the server made after a write, found again by a random id (`?flash=`)."""

    def __init__(self, ttl: float = FLASH_TTL, size: int = FLASH_MAX) -> None:
        self.ttl, self.size = ttl, size
        self._items: dict[str, tuple[float, str, bool]] = {}
        self._lock = threading.Lock()

    def put(self, text: str, error: bool = False) -> str:
        key = secrets.token_urlsafe(9)
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, text, error)
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))
        return key

    def get(self, key: str | None) -> tuple[str, bool] | None:
        """The message under `key` while it lives; None for any other text."""
        if not key:
            return None
        with self._lock:
            got = self._items.get(key)
            if got is not None and got[0] < time.monotonic():
                del self._items[key]
                got = None
        return (got[1], got[2]) if got else None
