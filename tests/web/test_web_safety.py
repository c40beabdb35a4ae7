"""The dashboard's safety over real HTTP: `repobus serve` as a subprocess, stopped by PID.

The Host check on every bind address (127.0.0.1, 127.0.0.2, ::1, 0.0.0.0 only with
--allow-remote, then the token for reads as well), confirmation before pause and release, the
flash banner showing only server-made messages, the SSE heartbeat, and the events page walked
both ways through more than 200 events."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed")

import test_web  # noqa: E402
from test_web import Server  # noqa: E402

from repobus.bus import open_bus  # noqa: E402
from repobus.web import data  # noqa: E402

serve = test_web.serve  # the fixture: `repobus serve --port 0 --json ARGS`, stopped by PID


def _ask(
    srv: Server,
    path: str,
    *,
    host: str | None = None,
    method: str = "GET",
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One request to the server, with the Host header given (else the URL's)."""
    url = urlsplit(srv.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    head = {"Host": url.netloc if host is None else host, **(headers or {})}
    body = urlencode(form).encode() if form is not None else None
    if body is not None:
        head["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=head)
        res = conn.getresponse()
        got = {k.lower(): v for k, v in res.getheaders()}
        return res.status, got, res.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _status(cli: Callable[..., Any], repo: Path, task: str) -> str:
    data = cli("status", "--json", cwd=repo).json
    return str(next(c for c in data["claims"] if c["task_id"] == task)["status"])


def _claimed(cli: Callable[..., Any], repo: Path) -> None:
    assert cli("claim", "--task", "QUEUE-001", cwd=repo, agent="codex-1").code == 0


# -- the Host check ------------------------------------------------------------------------


def test_loopback_answers_only_its_own_host_names(repo: Path, serve: Callable[..., Any]) -> None:
    srv = serve()
    port = srv.info["port"]
    assert _ask(srv, "/")[0] == 200
    assert _ask(srv, "/", host=f"localhost:{port}")[0] == 200
    for bad in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", ""):
        status, _, body = _ask(srv, "/", host=bad)
        assert status == 421, bad
        assert "does not answer to the host name" in body and "--allow-host" in body
    assert _ask(srv, "/sse", host="evil.example")[0] == 421  # the stream too


def test_a_second_loopback_address_checks_its_host(repo: Path, serve: Callable[..., Any]) -> None:
    srv = serve("--host", "127.0.0.2")
    port = srv.info["port"]
    assert srv.info["host"] == "127.0.0.2" and srv.info["remote"] is False
    assert _ask(srv, "/")[0] == 200
    assert _ask(srv, "/", host=f"127.0.0.1:{port}")[0] == 421
    assert _ask(srv, "/", host=f"localhost:{port}")[0] == 421
    assert _ask(srv, "/", host=f"rebound.example:{port}")[0] == 421


def _has_ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_accepts_its_bracketed_host(repo: Path, serve: Callable[..., Any]) -> None:
    srv = serve("--host", "::1")
    port = srv.info["port"]
    assert srv.url == f"http://[::1]:{port}/"
    assert _ask(srv, "/", host=f"[::1]:{port}")[0] == 200
    assert _ask(srv, "/", host=f"localhost:{port}")[0] == 200
    assert _ask(srv, "/", host=f"127.0.0.1:{port}")[0] == 421


def test_a_remote_bind_without_allow_remote_exits_2_and_starts_nothing(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "repobus", "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--host 0.0.0.0 is reachable from other machines: add --allow-remote" in done.stderr
    assert done.stdout == ""  # no address printed: nothing listened


def test_a_remote_bind_needs_the_token_to_read(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    _claimed(cli, repo)
    srv = serve("--host", "0.0.0.0", "--allow-remote", "--allow-host", "dash.lan")
    port, token = srv.info["port"], srv.token
    assert srv.info["remote"] is True and token and srv.info["writes"] is False
    for path in ("/", "/events", "/task/QUEUE-001", "/api/overview", "/sse", "/part/overview"):
        status, _, body = _ask(srv, path)
        assert status == 401, path
        assert "needs its token" in body and "QUEUE-001" not in body
    assert _ask(srv, "/", headers={"Authorization": "Bearer wrong"})[0] == 401
    status, head, body = _ask(srv, f"/?token={token}")
    assert status == 200 and "QUEUE-001" in body
    cookie = head["set-cookie"]
    assert f"repobus-{port}={token}" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";", 1)[0]}
    assert _ask(srv, "/events", headers=jar)[0] == 200
    assert _ask(srv, "/api/overview", headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert _ask(srv, "/", host=f"dash.lan:{port}", headers=jar)[0] == 200
    assert _ask(srv, "/", host="dash.lan", headers=jar)[0] == 200  # a proxy's default port
    assert _ask(srv, "/", host=f"elsewhere.lan:{port}", headers=jar)[0] == 421
    # read-only stays read-only: the token lets a person read, not write
    release = {"task": "QUEUE-001", "token": token, "confirm": "yes"}
    assert _ask(srv, "/act/release", method="POST", form=release)[0] == 401  # no cookie
    status = _ask(srv, "/act/release", method="POST", form=release, headers=jar)[0]
    assert status == 403 and _status(cli, repo, "QUEUE-001") == "active"


# -- confirmation and the flash banner ------------------------------------------------------


def _hidden_fields(body: str) -> dict[str, str]:
    return {
        unescape(m[0]): unescape(m[1])
        for m in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body)
    }


def test_release_from_a_form_asks_first_and_writes_only_when_confirmed(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    _claimed(cli, repo)
    srv = serve("--allow-writes", "--agent", "alice")
    form = {"task": "QUEUE-001", "status": "done", "next": "/task/QUEUE-001"}
    form["token"] = srv.token
    status, _, body = _ask(srv, "/act/release", method="POST", form=form)
    assert status == 200 and "Confirm: Release QUEUE-001 as alice?" in body
    assert "Nothing has been written yet" in body
    assert _status(cli, repo, "QUEUE-001") == "active"
    again = _hidden_fields(body)
    assert again == {**form, "confirm": "yes"}
    pause = {"task": "QUEUE-001", "notes": "x", "token": srv.token or ""}
    json_please = {"Accept": "application/json"}
    status, _, body = _ask(srv, "/act/pause", method="POST", form=pause, headers=json_please)
    assert status == 428 and json.loads(body)["kind"] == "confirm"
    assert _status(cli, repo, "QUEUE-001") == "active"
    status, head, _ = _ask(srv, "/act/release", method="POST", form=again)
    assert status == 303 and _status(cli, repo, "QUEUE-001") == "done"
    where = head["location"]
    assert where.startswith("/task/QUEUE-001?flash=") and "release" not in where
    status, _, body = _ask(srv, where)
    assert status == 200 and "release QUEUE-001: done as alice" in body


def test_the_flash_banner_shows_no_text_from_the_address(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    _claimed(cli, repo)
    srv = serve("--allow-writes")
    for query in ("msg=%3Cscript%3Ealert(1)%3C/script%3E", "flash=%3Cscript%3Ealert(1)"):
        status, _, body = _ask(srv, f"/?{query}")
        assert status == 200
        assert "alert(1)" not in body and 'class="flash' not in body, query


def test_the_event_stream_says_hello_then_beats(repo: Path, serve: Callable[..., Any]) -> None:
    srv = serve()
    url = urlsplit(srv.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=20)
    try:
        conn.request("GET", "/sse", headers={"Host": url.netloc})
        res = conn.getresponse()
        assert res.status == 200
        lines: list[str] = []
        for _ in range(40):  # hello, then a beat within the heartbeat interval (5 s)
            lines.append(res.readline().decode().rstrip("\n"))
            if lines[-1] == "event: beat":
                break
    finally:
        conn.close()
    assert "event: hello" in lines and "event: beat" in lines
    hello = lines[lines.index("event: hello") + 1]
    assert json.loads(hello.removeprefix("data: "))["heartbeat"] > 0


# -- the events page through history --------------------------------------------------------


def _rows(body: str) -> list[str]:
    return re.findall(r"walk-(\d+)", body)


def _link(body: str, name: str) -> str | None:
    found = re.search(rf'<a href="(/events[^"]*)" rel="[a-z]+">{name}</a>', body)
    return unescape(found[1]) if found else None


def test_the_events_page_walks_older_and_back_newer_without_a_gap(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    assert cli("init", "--agent", "a1", "--no-remote", cwd=repo).code == 0
    bus = open_bus(repo)
    for i in range(450):
        bus.log("a1" if i % 3 else "a2", "note", f"walk-{i}")
    srv = serve()
    pages: list[list[str]] = []
    link: str | None = "/events"
    while link and len(pages) < 10:
        status, _, body = _ask(srv, link)
        assert status == 200
        pages.append(_rows(body))
        link = _link(body, "older")
        if len(pages) > 1:
            assert _link(body, "newest") == "/events" and _link(body, "newer")
    walked = [r for p in pages for r in p]
    assert [len(p) for p in pages] == [200, 200, 50]
    assert sorted(walked, key=int) == [str(i) for i in range(450)], "every row once"
    whole = data.stream(bus, data.Filters.parse({}, limit=1000))[0]
    assert walked == [r["summary"].removeprefix("walk-") for r in whole], "in the one order"
    back: list[list[str]] = []
    link = _link(body, "newer")
    while link and len(back) < 10:
        body = _ask(srv, link)[2]
        back.append(_rows(body))
        link = _link(body, "newer")
    assert back == [pages[1], pages[0]], "newer returns page by page, to the first"
    status, _, body = _ask(srv, "/events?agent=a2")
    walked = _rows(body)
    while (older := _link(body, "older")) is not None:
        body = _ask(srv, older)[2]
        walked += _rows(body)
    assert walked == [str(i) for i in reversed(range(0, 450, 3))], "a filter pages too"


def test_newer_pages_retrace_the_older_ones_on_both_backends(
    any_repo: Path, cli: Callable[..., Any]
) -> None:
    from repobus.web import paging

    assert cli("init", "--agent", "a1", "--no-remote", cwd=any_repo).code == 0
    bus = open_bus(any_repo)
    for i in range(23):
        bus.log("a1" if i % 2 else "a2", "note", f"n-{i}", task="T-1" if i % 3 else None)
    for q in ({}, {"task": "T-1"}, {"agent": "a2"}):
        cursors: list[str | None] = [None]
        forward: list[list[str]] = []
        for _ in range(20):
            f = data.Filters.parse({**q, "cursor": cursors[-1] or ""}, limit=4)
            recs, older = data.stream(bus, f)
            forward.append([r["summary"] for r in recs])
            assert paging.newer(bus, f) == (cursors[-2] if len(cursors) > 1 else None), q
            if older is None:
                break
            cursors.append(older)
        flat = [s for p in forward for s in p]
        assert len(flat) == len(set(flat)) and all(len(p) == 4 for p in forward[:-1]), q
