"""The dashboard's live updates, truthfully, in a real browser: Playwright drives headless
Debian Chromium against `repobus serve` (a subprocess, stopped by PID).

Typing into a form never holds the other updates back (the typed value, focus and caret
survive each swap); the dot says "live" only while the stream is open and heard from within
its heartbeat, "stale" while the server is silent (SIGSTOP), "reconnecting" when it is gone,
on every page; release and pause ask first (`data-confirm`) and a "no" posts nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed")

import test_web  # noqa: E402
from conftest import run_console  # noqa: E402
from test_web import Server  # noqa: E402

serve = test_web.serve  # fixtures: the server (stopped by PID), the browser, a fresh page
browser = test_web.browser
page = test_web.page


def _wait_state(page: Any, state: str, timeout: float = 10_000) -> str:
    """The dot's text once it is in `state` (a locator wait: the page's CSP forbids eval)."""
    dot = page.locator(f'#live-state[data-state="{state}"]')
    dot.wait_for(timeout=timeout)
    return str(dot.inner_text())


def _claims(cli: Callable[..., Any], repo: Path) -> None:
    for task, agent in (("QUEUE-001", "codex-1"), ("QUEUE-002", "claude-2")):
        assert cli("claim", "--task", task, cwd=repo, agent=agent).code == 0


def _log(repo: Path, summary: str) -> None:
    """An event written by another process, as an agent would."""
    args = ("log", "--event", "note", "--summary", summary, "--task", "QUEUE-002")
    done = run_console(*args, cwd=repo, agent="claude-2")
    assert done.returncode == 0, done.stderr


def test_typing_in_a_form_keeps_the_page_updating(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _claims(cli, repo)
    srv = serve("--allow-writes", "--agent", "alice")
    page.goto(f"{srv.url}?token={srv.token}")
    _wait_state(page, "live")
    notes = page.locator('[data-task="QUEUE-001"] input[name="notes"]')
    notes.click()
    notes.type("half a thought")
    notes.evaluate("x => x.setSelectionRange(4, 6)")
    for n in range(3):  # each update is swapped in while the person is still typing
        _log(repo, f"arrived-while-typing-{n}")
        page.get_by_text(f"arrived-while-typing-{n}").first.wait_for(timeout=10_000)
    kept = page.evaluate(
        "() => { const x = document.activeElement; return [x.name, x.value, x.selectionStart,"
        " x.selectionEnd, x.closest('[data-task]').dataset.task]; }"
    )
    assert kept == ["notes", "half a thought", 4, 6, "QUEUE-001"]
    page.keyboard.type("!")
    assert notes.input_value() == "half! thought"  # the selection " a" was replaced
    assert _wait_state(page, "live") == "● live"


@pytest.mark.parametrize("path", ["/", "/events", "/task/QUEUE-001", "/timeline", "/report"])
def test_the_dot_is_live_on_every_page(
    path: str, repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _claims(cli, repo)
    srv = serve()
    page.goto(srv.url.rstrip("/") + path)
    assert _wait_state(page, "live") == "● live"


def test_the_dot_says_stale_when_the_server_is_silent_and_reconnecting_when_gone(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _claims(cli, repo)
    srv = serve()
    page.goto(srv.url + "report")
    _wait_state(page, "live")
    os.kill(srv.proc.pid, signal.SIGSTOP)  # connected, but nothing arrives
    try:
        text = _wait_state(page, "stale", timeout=20_000)
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    assert text.startswith("○ stale (no update in ") and text.endswith("s)")
    assert _wait_state(page, "live") == "● live"
    srv.proc.terminate()
    srv.proc.wait(timeout=10)
    assert _wait_state(page, "down") == "○ reconnecting…"


def test_release_asks_first_and_a_no_posts_nothing(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _claims(cli, repo)
    srv = serve("--allow-writes", "--agent", "alice")
    page.goto(f"{srv.url}?token={srv.token}")
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if "/act/" in r.url else None)
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    release = page.locator('[data-task="QUEUE-001"]').get_by_role("button", name="Release")
    release.click()
    page.evaluate("() => new Promise(r => setTimeout(r, 0))")  # the submit handler has run
    assert asked and "QUEUE-001" in asked[0] and posted == []
    status = cli("status", "--json", cwd=repo).json
    assert {c["task_id"]: c["status"] for c in status["claims"]}["QUEUE-001"] == "active"
    page.once("dialog", lambda d: d.accept())
    release.click()
    page.locator(".flash").wait_for(timeout=10_000)
    assert "release QUEUE-001: done as alice" in page.inner_text(".flash")
    assert len(posted) == 1
